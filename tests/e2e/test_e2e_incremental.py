"""Incremental by default (issue 15), measured on the offline runtime: the same bucket inventoried twice with
nothing changed creates no batch task the second time; N tags changed in between re-qualify exactly those N
objects (through S3's EventBridge tag events), each with the outcome its new tags call for."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_support import active_by_key, explain, history, png, put_images

from offline.aws.s3_inventory import InventoryRow
from offline.aws.s3_inventory import deliver_inventory as write_inventory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
OLD = datetime(2026, 1, 1, tzinfo=UTC)


def _tag(s3, bucket: str, key: str, tags: dict[str, str]) -> None:
    s3.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )


def _tag_event_results(runtime) -> list[tuple[str, str]]:
    """(key, result) of every tag event the qualifier handled, from its log."""
    name = runtime.deployment.outputs["batch_function_name"]
    results = []
    for line in (Path(runtime.stats()["logs"]) / f"{name}.log").read_text().splitlines():
        if '"tag event re-qualified"' in line:
            record = json.loads(line[line.index("{") :])
            results.append((record["key"], record["result"]))
    return results


def test_an_unchanged_bucket_costs_no_batch_task_and_a_changed_tag_is_seen(dev_stack):
    runtime, faces = dev_stack()
    s3 = runtime.client("s3")
    images = runtime.deployment.outputs["image_bucket_name"]
    tagged = [f"users/inc-{n}.png" for n in range(4)]
    rows = put_images(runtime, tagged)
    untagged = ["users/later-user.png", "users/later-ignored.png"]
    for seed, key in enumerate(untagged, start=50):
        body = png(seed)
        put = s3.put_object(Bucket=images, Key=key, Body=body)
        rows.append(
            [images, key, put["VersionId"], "true", "false", str(len(body)), "", put["ETag"].strip('"')]
        )
    objects = [
        InventoryRow(key=key, version_id=version, is_latest=True, is_delete_marker=False, size=int(size),
                     last_modified=OLD, etag=etag)
        for _bucket, key, version, _latest, _marker, size, _modified, etag in rows
    ]  # fmt: skip
    day1 = datetime.now(UTC)
    write_inventory(s3, source_bucket=images, rows=objects, now=day1)
    runtime.run_until_idle(150)
    [job] = runtime.stats()["jobs"]
    assert (job["status"], job["total"]) == ("Complete", 6), explain(runtime, faces)
    assert {k: history(runtime)[k]["status"] for k in tagged} == dict.fromkeys(tagged, "indexed")
    assert {k: history(runtime)[k]["status"] for k in untagged} == dict.fromkeys(untagged, "invalid")
    # The indexer's own Indexed=True writes are tag events too: each one a skip, never a second import.
    assert sorted(_tag_event_results(runtime)) == sorted((k, "skipped:indexed") for k in tagged)

    # N = 3 tag changes: a UserId for a skipped image, Ignore for a skipped one and for an indexed one.
    _tag(s3, images, "users/later-user.png", {"UserId": "late-user"})
    _tag(s3, images, "users/later-ignored.png", {"Ignore": "True"})
    indexed_tags = s3.get_object_tagging(Bucket=images, Key=tagged[0])["TagSet"]
    _tag(s3, images, tagged[0], {**{t["Key"]: t["Value"] for t in indexed_tags}, "Ignore": "True"})
    runtime.run_until_idle(150)
    after = _tag_event_results(runtime)[len(tagged) :]
    user_changes = [(key, result) for key, result in after if result != "skipped:indexed"]
    assert sorted(user_changes) == sorted(
        [
            ("users/later-user.png", "queued"),
            ("users/later-ignored.png", "skipped:ignored"),
            (tagged[0], "skipped:ignored"),  # documented: Ignore skips; it does not deregister
        ]
    ), explain(runtime, faces)
    # ... and the one it imported wrote Indexed=True, whose event is a skip again.
    assert [key for key, result in after if result == "skipped:indexed"] == ["users/later-user.png"]
    records = history(runtime)
    assert records["users/later-user.png"]["status"] == "indexed"
    assert records["users/later-user.png"]["user_id"] == "late-user"
    assert active_by_key(faces)["users/later-user.png"] == 1 and active_by_key(faces)[tagged[0]] == 1

    # Day 2: the same objects (tag changes do not change LastModified): no job, no batch task.
    create_jobs = sum(n for call, n in runtime.stats()["api_calls"].items() if call.endswith(":CreateJob"))
    write_inventory(s3, source_bucket=images, rows=objects, now=day1 + timedelta(days=1))
    runtime.run_until_idle(150)
    stats = runtime.stats()
    assert [j["total"] for j in stats["jobs"]] == [6], explain(runtime, faces)
    assert sum(n for call, n in stats["api_calls"].items() if call.endswith(":CreateJob")) == create_jobs
    inventory_fn = runtime.deployment.outputs["inventory_function_name"]
    assert stats["invocations"][inventory_fn]["by_source"].get("sns") == 2
    assert faces.registry.duplicates == [] and stats["access_denied"] == [], explain(runtime, faces)
