"""An object deleted while the indexer registers it (EventBridge "Object Deleted" mid-import):
no face of the deleted object remains and its history says deleted."""

from __future__ import annotations

import threading

import pytest
from e2e_support import active_by_key, deliver_inventory, explain, history, put_images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_a_delete_during_the_import_leaves_no_face(dev_stack):
    runtime, faces = dev_stack()
    images = runtime.deployment.outputs["image_bucket_name"]
    keys = ["users/doomed.png", "users/kept-1.png", "users/kept-2.png"]
    rows = put_images(runtime, keys)
    doomed_version = rows[0][2]
    s3 = runtime.client("s3")
    deleted = threading.Event()

    def delete_once_registered(request, status: int) -> None:
        target = request.headers.get("X-Amz-Target") or request.headers.get("x-amz-target") or ""
        if request.service != "rekognition" or not target.endswith(".IndexFaces") or status != 200:
            return
        body = request.body.decode()
        if "doomed.png" not in body or deleted.is_set():
            return
        deleted.set()
        # The face exists, the indexer has not recorded it yet: the object goes (a delete marker).
        s3.delete_object(Bucket=images, Key=keys[0])

    runtime.on_api_call(delete_once_registered)
    deliver_inventory(runtime, rows)
    runtime.run_until_idle(180)

    assert deleted.is_set(), explain(runtime, faces)
    assert runtime.stats()["deliveries"]["eventbridge_deliveries"] >= 1, explain(runtime, faces)
    active = active_by_key(faces)
    assert keys[0] not in active, explain(runtime, faces)
    assert active == dict.fromkeys(keys[1:], 1), explain(runtime, faces)
    registered = [r for r in faces.registry.all() if (r.source or "").endswith(f"{keys[0]}#{doomed_version}")]
    assert len(registered) == 1 and not registered[0].active, explain(runtime, faces)
    records = history(runtime)
    assert records[keys[0]]["status"] == "deleted", records[keys[0]]
    assert {key: records[key]["status"] for key in keys[1:]} == dict.fromkeys(keys[1:], "indexed")
    assert runtime.stats()["access_denied"] == []
