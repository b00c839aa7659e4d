"""Gateway throttling bursts and an outage that recovers: nothing lost, nothing registered twice."""

from __future__ import annotations

import pytest
from e2e_support import active_by_key, deliver_inventory, explain, history, put_images

from offline.gateways.limits import Fault, FaultPlan

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_throttling_and_an_outage_end_with_every_image_indexed_once(dev_stack):
    # Counted over IndexFaces / SearchFacesByImage / DeleteFaces in arrival order: a burst of
    # ThrottlingException, a window of 500s, then the gateway recovers; a 4/s limit with no burst answers
    # ProvisionedThroughputExceededException whenever the indexer goes faster.
    plan = FaultPlan(
        [
            Fault("throttle", after_requests=0, requests=4),
            Fault("outage", after_requests=6, requests=6),
        ]
    )
    runtime, faces = dev_stack(rekognition={"faults": plan, "rate_per_s": 4.0, "burst": 1})
    keys = [f"users/burst-{n}.png" for n in range(6)]
    deliver_inventory(runtime, put_images(runtime, keys))
    runtime.run_until_idle(180)

    injected = faces.faults.injected
    assert (injected["throttle"], injected["outage"]) == (4, 6), explain(runtime, faces)
    records = history(runtime)
    assert {key: records[key]["status"] for key in keys} == dict.fromkeys(keys, "indexed"), explain(
        runtime, faces
    )
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert faces.registry.duplicates == [], explain(runtime, faces)
    # The failures reached the indexer (its retries, not botocore's, carried the images through).
    queue_arn = runtime.deployment.outputs["queue_arn"]  # the indexer's; tag events have a mapping too
    [mapping] = [m for m in runtime.stats()["mappings"].values() if m["queue"] == queue_arn]
    assert mapping["partial_failures"] + mapping["batch_failures"] > 0, explain(runtime, faces)
    dlq = runtime.deployment.outputs["dlq_url"].rsplit("/", 1)[1]
    assert runtime.queue_depths()[dlq]["visible"] == 0, explain(runtime, faces)
    assert runtime.stats()["access_denied"] == []
