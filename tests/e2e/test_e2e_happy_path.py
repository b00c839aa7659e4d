"""Happy path: an inventory through the real dev stack, every image ends indexed or with a recorded reason."""

from __future__ import annotations

import pytest
from e2e_support import active_by_key, deliver_inventory, explain, history, put_images, report_rows

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_every_image_ends_indexed_or_with_a_recorded_reason(dev_stack):
    runtime, faces = dev_stack()
    s3 = runtime.client("s3")
    images = runtime.deployment.outputs["image_bucket_name"]
    good = ["users/a b+c/é 1.png", "users/plain.png", "users/third.png", "users/fourth.png"]
    rows = put_images(runtime, good)
    # Not registered: an image without UserId (the history says why) and a non-image (never a task).
    untagged = s3.put_object(Bucket=images, Key="users/no-user.png", Body=b"\x89PNG not really")
    text = s3.put_object(Bucket=images, Key="users/notes.txt", Body=b"hello", Tagging="UserId=user-9")
    for key, put, size in (("users/no-user.png", untagged, 15), ("users/notes.txt", text, 5)):
        rows.append(
            [
                images,
                key,
                put["VersionId"],
                "true",
                "false",
                str(size),
                "2026-01-01T00:00:00.000Z",
                put["ETag"],
            ]
        )
    deliver_inventory(runtime, rows)
    runtime.run_until_idle(120)
    stats = runtime.stats()

    [job] = stats["jobs"]
    assert (job["status"], job["total"]) == ("Complete", len(rows) - 1), explain(runtime, faces)
    reported = {row[1] for row in report_rows(runtime, job)}
    assert len(reported) == len(rows) - 1 and not any("notes.txt" in key for key in reported), reported
    records = history(runtime)
    for key in good:
        assert records[key]["status"] == "indexed", explain(runtime, faces)
    assert records["users/no-user.png"]["status"] == "invalid", explain(runtime, faces)
    assert "user-id-missing" in records["users/no-user.png"]["reason"]
    assert "users/notes.txt" not in records
    assert active_by_key(faces) == dict.fromkeys(good, 1), explain(runtime, faces)
    assert faces.registry.duplicates == []
    assert stats["access_denied"] == [], explain(runtime, faces)
    assert runtime.queue_depths()[runtime.deployment.outputs["dlq_url"].rsplit("/", 1)[1]]["visible"] == 0
