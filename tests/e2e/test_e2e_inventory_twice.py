"""The same inventory delivered twice (S3 re-sends, or someone re-uploads the manifest): one S3 Batch job
(CreateJob's ClientRequestToken), every image registered once."""

from __future__ import annotations

import pytest
from e2e_support import active_by_key, deliver_inventory, explain, history, put_images, redeliver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_a_redelivered_inventory_runs_one_job(dev_stack):
    runtime, faces = dev_stack()
    keys = [f"users/twice-{n}.png" for n in range(4)]
    delivery = deliver_inventory(runtime, put_images(runtime, keys))
    redeliver(runtime, delivery)  # while the first delivery is still being handled
    runtime.run_until_idle(120)
    redeliver(runtime, delivery)  # and once more after everything finished
    runtime.run_until_idle(120)

    stats = runtime.stats()
    inventory_fn = runtime.deployment.outputs["inventory_function_name"]
    # Three notifications, each handled by the inventory function: three CreateJob calls, one job.
    assert stats["invocations"][inventory_fn]["by_source"].get("sns") == 3, explain(runtime, faces)
    create_job = [name for name in stats["api_calls"] if name.endswith(":CreateJob")]
    assert [stats["api_calls"][name] for name in create_job] == [3], stats["api_calls"]
    [job] = stats["jobs"]
    assert (job["status"], job["total"], job["succeeded"]) == ("Complete", 4, 4), explain(runtime, faces)
    records = history(runtime)
    assert {key: records[key]["status"] for key in keys} == dict.fromkeys(keys, "indexed")
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert faces.calls["IndexFaces"] == len(keys) and faces.registry.duplicates == [], explain(runtime, faces)
    assert stats["access_denied"] == []
