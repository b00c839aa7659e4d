"""A worker dies after the gateway registered an image but before the history says so: after redelivery the
indexer finds that registration (SearchFacesByImage) and records it; every image has exactly one face."""

from __future__ import annotations

import threading

import pytest
from e2e_support import active_by_key, deliver_inventory, explain, history, put_images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# The claim of a dead worker is kept until its lease (the invocation's time left + 60 s) runs out: a short
# function timeout keeps that wait near 75 s.
SHORT_TIMEOUTS = {"throttledIndexer": {"timeoutSeconds": 15, "gatewayTimeoutSeconds": 2}}


def test_a_crash_between_gateway_and_history_leaves_one_face_per_image(dev_stack):
    runtime, faces = dev_stack(config_overrides=SHORT_TIMEOUTS)
    indexer = runtime.deployment.outputs["indexer_function_name"]
    crashed: list[str] = []
    lock = threading.Lock()

    def crash_after_first_registration(request, status: int) -> None:
        target = request.headers.get("X-Amz-Target") or request.headers.get("x-amz-target") or ""
        if request.service != "rekognition" or not target.endswith(".IndexFaces") or status != 200:
            return
        with lock:
            if crashed:
                return
            crashed.append(target)
        # Runs as soon as the answer is sent: the worker has the face id and has written nothing yet.
        assert runtime.workers is not None
        assert runtime.workers.pool(indexer).kill_busy_workers() >= 1

    runtime.on_api_call(crash_after_first_registration)
    keys = [f"users/crash-{n}.png" for n in range(3)]
    deliver_inventory(runtime, put_images(runtime, keys))
    runtime.run_until_idle(200)

    assert crashed, explain(runtime, faces)
    records = history(runtime)
    assert {key: records[key]["status"] for key in keys} == dict.fromkeys(keys, "indexed"), explain(
        runtime, faces
    )
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert faces.registry.duplicates == [], explain(runtime, faces)
    # The registration made before the crash is the one recorded: no second IndexFaces for that image.
    assert faces.calls["IndexFaces"] == len(keys), explain(runtime, faces)
    assert faces.calls["SearchFacesByImage"] >= 1, explain(runtime, faces)
    recovered = [key for key in keys if "SearchFacesByImage" in str(records[key])]
    assert len(recovered) == 1, {key: records[key] for key in keys}
    assert runtime.stats()["invocations"][indexer]["errors"] >= 1  # the killed invocation
