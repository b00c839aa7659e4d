"""The importer end to end: moto S3, s3control/lambda answered by Stubbers that record each request."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from urllib.parse import unquote, unquote_plus

import pytest
from inventory_fixtures import (
    ACCOUNT,
    HOSTILE_KEYS,
    INVENTORY_BUCKET,
    MANIFEST_BUCKET,
    SOURCE_BUCKET,
    Row,
    csv_gz,
    importer,
    put_inventory,
    read_manifest_rows,
)

from handlers.inventory_created.errors import DataFileError, InventoryError, ManifestError
from handlers.inventory_created.events import (
    ConvertTask,
    DispatchTask,
    ManifestLocation,
    ManifestPayload,
    parse_event,
)
from handlers.inventory_created.jobs import client_request_token


def _location(inv, checksum=True) -> ManifestLocation:
    return ManifestLocation(INVENTORY_BUCKET, inv.manifest_key, inv.checksum_key if checksum else None)


def _pending_uploads(s3) -> list:
    return s3.list_multipart_uploads(Bucket=MANIFEST_BUCKET).get("Uploads", [])


def _manifest_objects(s3) -> list[str]:
    listing = s3.list_objects_v2(Bucket=MANIFEST_BUCKET, Prefix="batch/manifests/")
    return [o["Key"] for o in listing.get("Contents", [])]


def test_single_file_inventory_creates_exactly_the_expected_job(s3, s3control, lambda_client):
    rows = [Row(k) for k in HOSTILE_KEYS] + [
        Row("doc/readme.txt"),
        Row("old/version.jpg", is_latest=False),
        Row("gone/deleted.jpg", is_delete_marker=True, size=None),
        Row("big/huge.jpg", size=15 * 1024 * 1024 + 1),
        Row("empty/zero.png", size=0),
    ]
    inv = put_inventory(s3, [csv_gz(rows)])
    s3control.expect(1)

    result = importer(s3, s3control, lambda_client).import_location(_location(inv))

    assert result["counts"] == {
        "delete_marker": 1,
        "empty": 1,
        "not_image": 1,
        "not_latest": 1,
        "selected": len(HOSTILE_KEYS),
        "too_large": 1,
    }
    manifest_key = f"batch/manifests/{SOURCE_BUCKET}/2024-05-02T01-00Z/import/part-00000.csv"
    assert result["jobs"] == [
        {"jobId": "job-0001", "manifest": f"s3://{MANIFEST_BUCKET}/{manifest_key}", "rows": len(HOSTILE_KEYS)}
    ]
    # The manifest decodes back to the original keys with either decoding S3 Batch may apply.
    manifest_rows = read_manifest_rows(s3, manifest_key)
    assert all(len(r) == 3 for r in manifest_rows)  # VersionId column present -> version ids on all rows
    assert [unquote_plus(r[1]) for r in manifest_rows] == list(HOSTILE_KEYS)
    assert [unquote(r[1]) for r in manifest_rows] == list(HOSTILE_KEYS)
    assert {r[0] for r in manifest_rows} == {SOURCE_BUCKET}
    assert {r[2] for r in manifest_rows} == {"null"}
    etag = s3.head_object(Bucket=MANIFEST_BUCKET, Key=manifest_key)["ETag"].strip('"')
    data_file = inv.manifest["files"][0]
    assert s3control.calls == [
        {
            "AccountId": ACCOUNT,
            "ConfirmationRequired": False,
            "Operation": {
                "LambdaInvoke": {
                    "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:batch-qualifier",
                    "InvocationSchemaVersion": "2.0",
                    "UserArguments": {
                        "runId": f"{SOURCE_BUCKET}/2024-05-02T01-00Z",
                        "mode": "import",
                        "sourceBucket": SOURCE_BUCKET,
                        "inventoryId": "2024-05-02T01-00Z",
                        "part": "1/1",
                        "dataFile": data_file["key"],
                    },
                }
            },
            "Report": {
                "Bucket": f"arn:aws:s3:::{MANIFEST_BUCKET}",
                "Format": "Report_CSV_20180820",
                "Enabled": True,
                "Prefix": f"batch/reports/{SOURCE_BUCKET}/2024-05-02T01-00Z",
                "ReportScope": "AllTasks",
            },
            "ClientRequestToken": client_request_token(
                manifest_key, data_file["key"], data_file["MD5checksum"]
            ),
            "Manifest": {
                "Spec": {
                    "Format": "S3BatchOperations_CSV_20180820",
                    "Fields": ["Bucket", "Key", "VersionId"],
                },
                "Location": {"ObjectArn": f"arn:aws:s3:::{MANIFEST_BUCKET}/{manifest_key}", "ETag": etag},
            },
            "Description": (
                f"bulk-loader import of s3://{SOURCE_BUCKET} inventory 2024-05-02T01-00Z (data file 1/1)"
            ),
            "Priority": 10,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/batch-operations",
            "Tags": [
                {"Key": "bulk-loader:source-bucket", "Value": SOURCE_BUCKET},
                {"Key": "bulk-loader:inventory", "Value": "2024-05-02T01-00Z"},
                {"Key": "bulk-loader:mode", "Value": "import"},
            ],
        }
    ]
    assert len(s3control.calls[0]["ClientRequestToken"]) <= 64
    assert lambda_client.calls == []
    s3control.stubber.assert_no_pending_responses()


def test_unversioned_inventory_writes_bucket_and_key_only(s3, s3control, lambda_client):
    fields = ["Bucket", "Key", "Size", "LastModifiedDate"]
    inv = put_inventory(s3, [csv_gz([Row("a b.jpg")], fields=fields)], file_schema=", ".join(fields))
    s3control.expect(1)
    result = importer(s3, s3control, lambda_client).import_location(_location(inv))
    key = result["jobs"][0]["manifest"].split(f"{MANIFEST_BUCKET}/", 1)[1]
    assert read_manifest_rows(s3, key) == [[SOURCE_BUCKET, "a%20b.jpg"]]
    assert s3control.calls[0]["Manifest"]["Spec"]["Fields"] == ["Bucket", "Key"]


def test_version_ids_are_kept_for_the_latest_version(s3, s3control, lambda_client):
    rows = [
        Row("a.jpg", version_id="v2", is_latest=True),
        Row("a.jpg", version_id="v1", is_latest=False),
        Row("b.jpg", version_id=None),  # null version (created before versioning was enabled)
    ]
    inv = put_inventory(s3, [csv_gz(rows)])
    s3control.expect(1)
    result = importer(s3, s3control, lambda_client).import_location(_location(inv))
    key = result["jobs"][0]["manifest"].split(f"{MANIFEST_BUCKET}/", 1)[1]
    assert read_manifest_rows(s3, key) == [[SOURCE_BUCKET, "a.jpg", "v2"], [SOURCE_BUCKET, "b.jpg", "null"]]


def test_multi_file_inventory_fans_out_one_invocation_per_data_file(s3, s3control, lambda_client):
    files = [csv_gz([Row(f"f{i}/x{j}.jpg") for j in range(i + 1)]) for i in range(3)]
    inv = put_inventory(s3, files)
    lambda_client.expect(3)
    first = importer(s3, s3control, lambda_client).import_location(_location(inv))

    assert first["dispatched"] == 3 and first["jobs"] == []
    assert s3control.calls == [] and _manifest_objects(s3) == []
    assert [c["FunctionName"] for c in lambda_client.calls] == [
        "arn:aws:lambda:us-east-1:123456789012:function:inventory-created"
    ] * 3
    assert {c["InvocationType"] for c in lambda_client.calls} == {"Event"}
    # Sent in parallel: order by data file.
    payloads = sorted((json.loads(c["Payload"]) for c in lambda_client.calls), key=lambda p: p["part"])
    assert all(len(c["Payload"]) < 4096 for c in lambda_client.calls)  # small, whatever the inventory size

    # Feed the captured invocations back, as Lambda would.
    s3control.expect(3, [{"JobId": f"job-{i}"} for i in range(3)])
    worker = importer(s3, s3control, lambda_client)
    results = [worker.convert_task(ConvertTask.model_validate(p)) for p in payloads]

    assert [r["jobs"][0]["jobId"] for r in results] == ["job-0", "job-1", "job-2"]
    assert [r["counts"] for r in results] == [{"selected": 1}, {"selected": 2}, {"selected": 3}]
    tokens = {c["ClientRequestToken"] for c in s3control.calls}
    assert len(tokens) == 3
    assert [c["Operation"]["LambdaInvoke"]["UserArguments"]["part"] for c in s3control.calls] == [
        "1/3",
        "2/3",
        "3/3",
    ]
    assert sorted(_manifest_objects(s3)) == [
        f"batch/manifests/{SOURCE_BUCKET}/2024-05-02T01-00Z/import/part-0000{i}.csv" for i in range(3)
    ]
    # Every data file is done: the inventory is recorded as the last import.
    state = s3.get_object(Bucket=MANIFEST_BUCKET, Key=f"batch/state/{SOURCE_BUCKET}/last-imported.json")
    assert json.loads(state["Body"].read())["inventoryId"] == "2024-05-02T01-00Z"


def test_a_long_fan_out_is_handed_on_in_bounded_steps(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row(f"f{i}.jpg")]) for i in range(5)])
    lambda_client.expect(7)  # 2 tasks + hand-on, 2 tasks + hand-on, 1 task
    worker = importer(s3, s3control, lambda_client, dispatch_batch=2)
    assert worker.import_location(_location(inv))["dispatched"] == 2
    for expected in (2, 1):
        rest = [json.loads(c["Payload"]) for c in lambda_client.calls if b'"dispatch"' in c["Payload"]][-1]
        request = parse_event(rest)[0]
        assert isinstance(request, DispatchTask)
        assert worker.continue_dispatch(request)["dispatched"] == expected
    tasks = [json.loads(c["Payload"]) for c in lambda_client.calls if b'"convert"' in c["Payload"]]
    assert sorted(t["part"] for t in tasks) == [0, 1, 2, 3, 4]
    assert {t["parts"] for t in tasks} == {5}
    s3control.expect(5)
    for task in tasks:
        worker.convert_task(ConvertTask.model_validate(task))
    assert len(s3control.calls) == 5
    lambda_client.stubber.assert_no_pending_responses()


def test_rerunning_the_same_inventory_sends_the_same_request_token(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row("a.jpg"), Row("b.png")])])
    s3control.expect(2)
    importer(s3, s3control, lambda_client).import_location(_location(inv))
    importer(s3, s3control, lambda_client).import_location(_location(inv, checksum=False))
    first, second = s3control.calls
    assert first["ClientRequestToken"] == second["ClientRequestToken"]
    assert first == second


def test_a_reindex_of_an_imported_inventory_is_another_job_and_ignores_only_new(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row("a.jpg")])])
    s3control.expect(3)
    run = importer(s3, s3control, lambda_client, only_new_objects=True)
    run.import_location(_location(inv))
    run.import_location(ManifestLocation(INVENTORY_BUCKET, inv.manifest_key, None, mode="reindex"))
    run.import_location(ManifestLocation(INVENTORY_BUCKET, inv.manifest_key, None, mode="reindex"))
    imported, reindexed, again = s3control.calls
    assert imported["ClientRequestToken"] != reindexed["ClientRequestToken"] == again["ClientRequestToken"]
    assert reindexed["Manifest"]["Location"]["ObjectArn"].endswith(
        "/2024-05-02T01-00Z/reindex/part-00000.csv"
    )
    assert reindexed["Operation"]["LambdaInvoke"]["UserArguments"]["mode"] == "reindex"


def test_a_second_job_for_the_same_token_is_not_an_error(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row("a.jpg")])])
    s3control.stubber.add_client_error("create_job", "IdempotencyException", "token reused", 400)
    result = importer(s3, s3control, lambda_client).import_location(_location(inv))
    assert result["jobs"][0]["jobId"] is None and result["counts"] == {"selected": 1}


def test_only_new_objects_over_an_unchanged_bucket_creates_no_job(s3, s3control, lambda_client):
    old = datetime(2024, 4, 1, tzinfo=UTC)
    rows = [Row("a.jpg", last_modified=old), Row("b.png", last_modified=old)]
    day1 = put_inventory(s3, [csv_gz(rows)], date="2024-05-02T01-00Z", creation_timestamp=1714611600000)
    s3control.expect(2)
    first = importer(s3, s3control, lambda_client, only_new_objects=True).import_location(_location(day1))
    assert first["counts"] == {"selected": 2} and first["jobs"][0]["jobId"] == "job-0001"

    new = datetime(2024, 5, 3, 12, tzinfo=UTC)  # after day 2's snapshot
    day2 = put_inventory(s3, [csv_gz(rows)], date="2024-05-03T01-00Z", creation_timestamp=1714698000000)
    second = importer(s3, s3control, lambda_client, only_new_objects=True).import_location(_location(day2))
    assert second["counts"] == {"unchanged": 2} and second["jobs"] == []
    assert len(s3control.calls) == 1

    day3 = put_inventory(
        s3,
        [csv_gz([*rows, Row("c.jpg", last_modified=new)])],
        date="2024-05-04T01-00Z",
        creation_timestamp=1714784400000,
    )
    third = importer(s3, s3control, lambda_client, only_new_objects=True).import_location(_location(day3))
    assert third["counts"] == {"unchanged": 2, "selected": 1}
    assert len(s3control.calls) == 2


def test_empty_inventories_create_no_job(s3, s3control, lambda_client):
    no_files = put_inventory(s3, [])
    assert importer(s3, s3control, lambda_client).import_location(_location(no_files))["jobs"] == []
    empty_file = put_inventory(s3, [csv_gz([])], date="2024-05-03T01-00Z")
    result = importer(s3, s3control, lambda_client).import_location(_location(empty_file))
    assert result["jobs"] == [] and result["counts"] == {}
    only_non_images = put_inventory(s3, [csv_gz([Row("x.txt")])], date="2024-05-04T01-00Z")
    result = importer(s3, s3control, lambda_client).import_location(_location(only_non_images))
    assert result["jobs"] == [] and result["counts"] == {"not_image": 1}
    assert s3control.calls == [] and _manifest_objects(s3) == [] and _pending_uploads(s3) == []


def test_wrong_manifest_checksum_is_rejected_before_any_work(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row("a.jpg")])])
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=inv.checksum_key, Body=b"0" * 32)
    with pytest.raises(ManifestError, match=r"does not match .*manifest\.checksum"):
        importer(s3, s3control, lambda_client).import_location(_location(inv))
    assert s3control.calls == [] and _manifest_objects(s3) == []


def test_wrong_data_file_checksum_leaves_no_manifest_and_no_job(s3, s3control, lambda_client):
    # Large enough that the manifest goes out as a multipart upload before the checksum is known.
    rows = [Row(f"photos/{i:07d}/face with a fairly long name.jpg") for i in range(200_000)]
    inv = put_inventory(s3, [csv_gz(rows)], md5_override={0: "0" * 32})
    task_importer = importer(s3, s3control, lambda_client, manifest_part_bytes=5 * 1024 * 1024)
    with pytest.raises(
        DataFileError, match=r"data-file|is corrupt: its MD5 is [0-9a-f]{32}, the manifest says 0{32}"
    ):
        task_importer.import_location(_location(inv))
    assert s3control.calls == [] and _manifest_objects(s3) == [] and _pending_uploads(s3) == []


def test_truncated_gzip_is_a_clear_error(s3, s3control, lambda_client):
    body = csv_gz([Row(f"k{i}.jpg") for i in range(1000)])
    inv = put_inventory(s3, [body[: len(body) // 2]])
    with pytest.raises(
        DataFileError, match=r"data file s3://inventory-bucket/.*csv\.gz cannot be read as gzip CSV"
    ):
        importer(s3, s3control, lambda_client).import_location(_location(inv))
    assert s3control.calls == [] and _manifest_objects(s3) == []


def test_a_payload_with_only_the_required_fields_is_imported(s3, s3control, lambda_client):
    s3.put_object(Bucket=INVENTORY_BUCKET, Key="hand/made.csv.gz", Body=csv_gz([Row("a.jpg")]))
    payload = {
        "destinationBucket": INVENTORY_BUCKET,
        "fileFormat": "CSV",
        "files": [{"key": "hand/made.csv.gz"}],
    }
    s3control.expect(1)
    result = importer(s3, s3control, lambda_client).import_payload(ManifestPayload(payload))
    assert result["sourceBucket"] == "unknown-source" and result["counts"] == {"selected": 1}
    user_arguments = s3control.calls[0]["Operation"]["LambdaInvoke"]["UserArguments"]
    assert user_arguments["runId"] == f"unknown-source/{result['inventoryId']}"


def test_manifest_payload_is_imported_directly(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row("a.jpg")])])
    payload = {
        "destinationBucket": INVENTORY_BUCKET,
        "fileFormat": "csv",
        "files": [{"key": inv.data_keys[0]}],
    }
    payload["sourceBucket"] = SOURCE_BUCKET
    s3control.expect(1)
    result = importer(s3, s3control, lambda_client).import_payload(ManifestPayload(payload, mode="reindex"))
    assert result["inventoryId"].startswith("manual-")
    assert result["counts"] == {"selected": 1}
    assert s3control.calls[0]["Operation"]["LambdaInvoke"]["UserArguments"]["mode"] == "reindex"


@pytest.mark.parametrize("file_format", ["Parquet", "ORC"])
def test_columnar_inventories(s3, s3control, lambda_client, file_format):
    from inventory_fixtures import orc_bytes, parquet_bytes

    rows = [Row(k, version_id=f"v{i}") for i, k in enumerate(HOSTILE_KEYS)] + [
        Row("old.jpg", is_latest=False, version_id="x"),
        Row("dm.jpg", is_delete_marker=True, size=None, version_id="y"),
    ]
    body = parquet_bytes(rows) if file_format == "Parquet" else orc_bytes(rows)
    inv = put_inventory(s3, [body], file_format=file_format, file_schema=None)
    s3control.expect(1)
    result = importer(s3, s3control, lambda_client).import_location(_location(inv))
    assert result["counts"] == {"selected": len(HOSTILE_KEYS), "not_latest": 1, "delete_marker": 1}
    key = result["jobs"][0]["manifest"].split(f"{MANIFEST_BUCKET}/", 1)[1]
    manifest_rows = read_manifest_rows(s3, key)
    assert [unquote_plus(r[1]) for r in manifest_rows] == list(HOSTILE_KEYS)
    assert [r[2] for r in manifest_rows] == [f"v{i}" for i in range(len(HOSTILE_KEYS))]


def test_an_unencoded_comma_in_a_csv_key_is_refused_not_written(s3, s3control, lambda_client):
    # A correct inventory URL-encodes keys; this one did not: the row would split in S3 Batch's CSV.
    body = gzip.compress(b'"image-bucket","a,b.jpg","10"\n')
    inv = put_inventory(s3, [body], file_schema="Bucket, Key, Size")
    with pytest.raises(
        DataFileError, match=r"data file s3://inventory-bucket/.*: a selected row cannot be written"
    ):
        importer(s3, s3control, lambda_client).import_location(_location(inv))
    assert s3control.calls == [] and _manifest_objects(s3) == []


def test_a_corrupt_import_state_is_named(s3, s3control, lambda_client):
    inv = put_inventory(s3, [csv_gz([Row("a.jpg")])])
    key = f"batch/state/{SOURCE_BUCKET}/last-imported.json"
    s3.put_object(Bucket=MANIFEST_BUCKET, Key=key, Body=b"{}")
    with pytest.raises(InventoryError, match=rf"import state s3://{MANIFEST_BUCKET}/{key} is not valid"):
        importer(s3, s3control, lambda_client, only_new_objects=True).import_location(_location(inv))
