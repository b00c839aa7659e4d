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


class _CrashAfterRegistering:
    """The gateway registers the first image, then the calling indexer's environments die before the answer
    reaches them: the face exists, the history does not say so (deterministic, unlike killing the worker
    once the answer is on its way, which a fast worker can outrun by writing the history first)."""

    def __init__(self, gateway, kill) -> None:
        self._gateway, self._kill = gateway, kill
        self.crashed = threading.Event()

    def handle(self, action: str, body: dict, caller):
        status, answer = self._gateway.handle(action, body, caller)
        if (
            action == "IndexFaces"
            and status == 200
            and answer.get("FaceRecords")
            and not self.crashed.is_set()
        ):
            self.crashed.set()
            assert self._kill() >= 1
        return status, answer


def test_a_crash_between_gateway_and_history_leaves_one_face_per_image(dev_stack):
    runtime, faces = dev_stack(config_overrides=SHORT_TIMEOUTS)
    indexer = runtime.deployment.outputs["indexer_function_name"]
    assert runtime.workers is not None
    crash = _CrashAfterRegistering(faces, runtime.workers.pool(indexer).kill_busy_workers)
    runtime.set_rekognition_handler(crash)
    keys = [f"users/crash-{n}.png" for n in range(3)]
    deliver_inventory(runtime, put_images(runtime, keys))
    runtime.run_until_idle(200)

    assert crash.crashed.is_set(), explain(runtime, faces)
    records = history(runtime)
    assert {key: records[key]["status"] for key in keys} == dict.fromkeys(keys, "indexed"), explain(
        runtime, faces
    )
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert faces.registry.duplicates == [], explain(runtime, faces)
    # The registration made before the crash is the one recorded: no second IndexFaces for that image.
    assert faces.calls["IndexFaces"] == len(keys), explain(runtime, faces)
    assert faces.calls["SearchFacesByImage"] >= 1, explain(runtime, faces)
    # At least the crashed one was recovered (another worker killed at the same moment may have been, too).
    recovered = [key for key in keys if "SearchFacesByImage" in str(records[key])]
    assert len(recovered) >= 1, {key: records[key] for key in keys}
    assert runtime.stats()["invocations"][indexer]["errors"] >= 1  # the killed invocation
