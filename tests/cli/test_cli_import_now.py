"""`bulk-loader import-now`: the newest delivered inventory handed to the inventory function (Lambda through a
Stubber), or with no inventory an S3 Batch job with S3's manifest generator (S3 Control through a Stubber,
which also checks the request against botocore's CreateJob model)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import ANY

from handlers.inventory_created.events import parse_event
from tests.cli.conftest import (
    ACCOUNT,
    BATCH_FUNCTION_ARN,
    BATCH_ROLE_ARN,
    IMAGE_BUCKET,
    INVENTORY_BUCKET,
    INVENTORY_FUNCTION,
    NOW,
    Stack,
    read_json,
)

ENVIRONMENT = {
    "BATCH_FUNCTION_ARN": BATCH_FUNCTION_ARN,
    "BATCH_ROLE_ARN": BATCH_ROLE_ARN,
    "MANIFEST_BUCKET": INVENTORY_BUCKET,
    "REPORT_PREFIX": "batch/reports/",
    "IMAGE_SUFFIXES": ".png,.jpg",
    "NEW_OBJECTS_OVERLAP_SECONDS": "600",
}


def _configure_inventory(stack: Stack) -> None:
    stack.s3.put_bucket_inventory_configuration(
        Bucket=IMAGE_BUCKET,
        Id="images-inventory",
        InventoryConfiguration={
            "Destination": {
                "S3BucketDestination": {
                    "Bucket": f"arn:aws:s3:::{INVENTORY_BUCKET}",
                    "Format": "CSV",
                    "Prefix": "inventory",
                }
            },
            "IsEnabled": True,
            "Id": "images-inventory",
            "IncludedObjectVersions": "Current",
            "Schedule": {"Frequency": "Daily"},
        },
    )


def _deliver(stack: Stack, date: str, *, complete: bool = True) -> str:
    folder = f"inventory/{IMAGE_BUCKET}/images-inventory/{date}/"
    stack.s3.put_object(Bucket=INVENTORY_BUCKET, Key=folder + "manifest.json", Body=b"{}")
    if complete:
        stack.s3.put_object(Bucket=INVENTORY_BUCKET, Key=folder + "manifest.checksum", Body=b"x")
    return folder + "manifest.checksum"


def test_the_newest_complete_inventory_goes_to_the_function(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure_inventory(stack)
    _deliver(stack, "2026-11-29T01-00Z")
    newest = _deliver(stack, "2026-11-30T01-00Z")
    _deliver(stack, "2026-12-01T01-00Z", complete=False)  # still being delivered: no checksum yet
    stack.s3.put_object(
        Bucket=INVENTORY_BUCKET, Key=f"inventory/{IMAGE_BUCKET}/images-inventory/data/x.csv.gz", Body=b""
    )
    event = {"bucket": INVENTORY_BUCKET, "key": newest, "mode": "import"}
    stack.expect_async_invoke(event)
    assert stack.cli("import-now", "--json") == 0
    answer = read_json(capsys)
    assert answer["source"] == "inventory"
    assert answer["manifest"] == f"s3://{INVENTORY_BUCKET}/{newest}"
    assert answer["run_id"] == f"{IMAGE_BUCKET}/2026-11-30T01-00Z"  # the inventory function's run name
    stack.stubs["lambda"].assert_no_pending_responses()


def _function_configuration(stack: Stack, environment: dict[str, str] = ENVIRONMENT) -> None:
    stack.stubs["lambda"].add_response(
        "get_function_configuration",
        {"FunctionName": INVENTORY_FUNCTION, "Environment": {"Variables": environment}},
        {"FunctionName": INVENTORY_FUNCTION},
    )


def _expected_job(*, filters: dict[str, Any], run_id: str, description: str) -> dict[str, Any]:
    return {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": BATCH_FUNCTION_ARN,
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {"runId": run_id, "mode": "import", "sourceBucket": IMAGE_BUCKET},
            }
        },
        "Report": {
            "Bucket": f"arn:aws:s3:::{INVENTORY_BUCKET}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": f"batch/reports/{run_id}",
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": ANY,
        "ManifestGenerator": {
            "S3JobManifestGenerator": {
                "ExpectedBucketOwner": ACCOUNT,
                "SourceBucket": f"arn:aws:s3:::{IMAGE_BUCKET}",
                "EnableManifestOutput": False,
                "Filter": filters,
            }
        },
        "Description": description,
        "Priority": 10,
        "RoleArn": BATCH_ROLE_ARN,
        "Tags": ANY,
    }


# --full too: with no inventory, a generated manifest (no CreatedAfter) already lists every object.
@pytest.mark.parametrize("flags", [(), ("--full",)], ids=["plain", "full"])
def test_no_inventory_yet_starts_a_generated_manifest_job(
    stack: Stack, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    run_id = f"{IMAGE_BUCKET}/import-now-20261201T120000Z"
    _function_configuration(stack)
    stack.stubs["s3control"].add_response(
        "create_job",
        {"JobId": "job-generated"},
        _expected_job(
            filters={"KeyNameConstraint": {"MatchAnySuffix": [".png", ".PNG", ".jpg", ".JPG"]}},
            run_id=run_id,
            description=f"bulk-loader import of s3://{IMAGE_BUCKET} (import-now)",
        ),
    )
    assert stack.cli("import-now", *flags, "--json") == 0  # no inventory configuration in this bucket
    answer = read_json(capsys)
    assert (answer["source"], answer["job_id"], answer["run_id"]) == (
        "generated-manifest",
        "job-generated",
        run_id,
    )
    stack.stubs["s3control"].assert_no_pending_responses()


def test_prefix_and_explicit_only_new(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _configure_inventory(stack)
    _deliver(stack, "2026-11-30T01-00Z")  # an inventory exists, but --prefix needs the generator
    _function_configuration(stack)
    stack.stubs["s3control"].add_response(
        "create_job",
        {"JobId": "job-p"},
        _expected_job(
            filters={
                "KeyNameConstraint": {
                    "MatchAnySuffix": [".png", ".PNG", ".jpg", ".JPG"],
                    "MatchAnyPrefix": ["people/"],
                },
                "CreatedAfter": NOW - timedelta(days=2),
            },
            run_id=f"{IMAGE_BUCKET}/import-now-20261201T120000Z",
            description=f"bulk-loader import of s3://{IMAGE_BUCKET} under people/ (import-now)",
        ),
    )
    assert stack.cli("import-now", "--prefix", "people/", "--only-new", "2d") == 0
    assert "bulk-loader status images-bucket/import-now-20261201T120000Z --watch" in capsys.readouterr().out
    stack.stubs["s3control"].assert_no_pending_responses()


def test_only_new_after_the_last_job(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    last = NOW - timedelta(days=1)
    _function_configuration(stack)
    stub = stack.stubs["s3control"]
    stub.add_response(
        "list_jobs",
        {
            "Jobs": [
                {
                    "JobId": "j-old",
                    "Description": "bulk-loader import of s3://images-bucket",
                    "CreationTime": last,
                }
            ]
        },
        {"AccountId": ACCOUNT, "MaxResults": 1},
    )
    stub.add_response(
        "describe_job",
        {"Job": {"JobId": "j-old", "CreationTime": last, "Status": "Complete"}},
        {"AccountId": ACCOUNT, "JobId": "j-old"},
    )
    stub.add_response(
        "create_job",
        {"JobId": "job-new"},
        _expected_job(
            filters={
                "KeyNameConstraint": {"MatchAnySuffix": [".png", ".PNG", ".jpg", ".JPG"]},
                "CreatedAfter": last - timedelta(seconds=600),  # the function's overlap
            },
            run_id=f"{IMAGE_BUCKET}/import-now-20261201T120000Z",
            description=f"bulk-loader import of s3://{IMAGE_BUCKET} (import-now)",
        ),
    )
    assert stack.cli("import-now", "--only-new", "--json") == 0
    assert read_json(capsys)["job_id"] == "job-new"
    stub.assert_no_pending_responses()


def test_only_new_without_an_earlier_job_is_bad_usage(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _function_configuration(stack)
    stack.stubs["s3control"].add_response("list_jobs", {"Jobs": []}, {"AccountId": ACCOUNT, "MaxResults": 1})
    assert stack.cli("import-now", "--only-new") == 2
    assert "needs an earlier S3 Batch job" in capsys.readouterr().err


def test_a_refused_job_fails(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _function_configuration(stack)
    stack.stubs["s3control"].add_client_error("create_job", "AccessDenied", "not allowed to pass the role")
    assert stack.cli("import-now") == 1
    assert "CreateJob: AccessDenied: not allowed to pass the role" in capsys.readouterr().err


def test_unusable_function_settings_fail(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _function_configuration(stack, {k: v for k, v in ENVIRONMENT.items() if k != "BATCH_ROLE_ARN"})
    assert stack.cli("import-now") == 1
    assert "BATCH_ROLE_ARN is required" in capsys.readouterr().err


def test_source_inventory_without_one_fails(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.cli("import-now", "--source", "inventory") == 1
    assert "no complete S3 Inventory report" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "selection"),
    [(("--full",), "full"), (("--only-new",), "incremental")],
    ids=["full", "only-new"],
)
def test_full_and_only_new_ask_the_newest_inventory_for_that_selection(
    stack: Stack, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], selection: str
) -> None:
    _configure_inventory(stack)
    newest = _deliver(stack, "2026-11-30T01-00Z")
    # The event the inventory function's own parser takes (handlers/inventory_created/events.py).
    event = {"bucket": INVENTORY_BUCKET, "key": newest, "mode": "import", "selection": selection}
    (parsed,) = parse_event(event)
    assert parsed.selection == selection
    stack.expect_async_invoke(event)
    assert stack.cli("import-now", *flags, "--json") == 0
    answer = read_json(capsys)
    assert (answer["source"], answer["selection"]) == ("inventory", selection)
    stack.stubs["lambda"].assert_no_pending_responses()


@pytest.mark.parametrize("other", [("--only-new",), ("--only-new", "1d"), ("--prefix", "people/")])
def test_full_with_a_narrower_selection_is_bad_usage(
    stack: Stack, capsys: pytest.CaptureFixture[str], other: tuple[str, ...]
) -> None:
    assert stack.cli("import-now", "--full", *other) == 2
    assert "--full re-scans every object" in capsys.readouterr().err


def test_source_inventory_with_only_new_since_is_bad_usage(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.cli("import-now", "--source", "inventory", "--only-new", "1d") == 2
    assert "--only-new SINCE select objects of an S3-generated manifest" in capsys.readouterr().err
