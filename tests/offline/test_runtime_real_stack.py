"""The project's own program (__main__.py, stack dev) deployed into the emulator; its functions import."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from offline.deployment.program import REPO_ROOT, read_stack_config
from offline.gateways.rekognition import EmulatedRekognition
from offline.runtime import OfflineRuntime
from tests.e2e.e2e_support import deliver_inventory, put_images

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev() -> OfflineRuntime:
    runtime = OfflineRuntime(failed_visibility_timeout_s=1)
    runtime.start()
    # The real emulator: SearchFacesByImage (the indexer's crash recovery) finds what IndexFaces registered.
    region = read_stack_config(REPO_ROOT, "dev")[1].get("aws:region", runtime.region)
    runtime.set_rekognition_handler(
        EmulatedRekognition(runtime.client("s3"), authorize=runtime.authorize, region=region)
    )
    try:
        runtime.deploy("dev")
        runtime.enforce_iam()
        yield runtime
    finally:
        runtime.stop()


def test_every_resource_of_the_dev_stack_is_created(dev: OfflineRuntime):
    assert dev.deployment.not_created == []
    assert len(dev.deployment.functions) == 3
    # The indexer's input queue, and (issue 15) the qualifier's tag-events queue.
    assert len(dev.deployment.mappings) == 2
    for spec in dev.deployment.functions.values():
        package = spec.handler.rsplit(".", 2)[0].replace(".", "/")
        assert (spec.code_dir / package / "app.py").is_file(), spec.handler
        assert (spec.code_dir / "handlers" / "common" / "contracts.py").is_file()


def test_each_function_imports_and_answers_with_its_own_role(dev: OfflineRuntime):
    lam = dev.client("lambda", max_attempts=1)
    for name in dev.deployment.functions:
        # An event none of them accepts: each must answer with its own error, not an import error.
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"offline": "probe"}))
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            assert payload["errorType"] not in ("Runtime.ImportModuleError", "Runtime.ExitError"), (
                name,
                payload,
            )
    assert dev.stats()["access_denied"] == []


def test_an_inventory_runs_through_the_real_pipeline_with_iam_enforced(dev: OfflineRuntime):
    """S3 Inventory -> SNS -> inventory_created -> S3 Batch -> batch_qualifier -> SQS -> throttled_indexer ->
    Rekognition, then a deletion through EventBridge: every function with its own role, nothing denied."""
    faces = dev.rekognition_handler
    s3 = dev.client("s3")
    images = dev.deployment.outputs["image_bucket_name"]
    keys = ["users/a b+c/é 1.png", "users/plain.png", "users/third.png"]
    rows = put_images(dev, keys)
    deliver_inventory(dev, rows)
    dev.run_until_idle(120)
    stats = dev.stats()

    def explain() -> str:  # what the runtime saw, should an assertion fail
        seen = dev.stats()
        keep = ("invocations", "queues", "jobs", "access_denied", "deliveries", "logs")
        registered = sorted(f"{r.source} active={r.active}" for r in faces.registry.all())
        extra = {"rekognition": dict(faces.calls), "registered": registered}
        return json.dumps({k: seen[k] for k in keep} | extra, default=str)[:6000]

    def active_keys() -> Counter[str]:
        return Counter((r.source or "").split("/", 1)[1].rsplit("#", 1)[0] for r in faces.registry.active())

    [job] = stats["jobs"]
    assert (job["status"], job["total"], job["succeeded"]) == ("Complete", 3, 3), explain()
    # Each image registered once (a redelivery may look a registration up, never registers it again).
    assert active_keys() == dict.fromkeys(keys, 1) and faces.registry.duplicates == [], explain()
    assert faces.calls["IndexFaces"] == 3, explain()
    s3.delete_object(Bucket=images, Key=keys[0])
    dev.run_until_idle(60)
    assert faces.calls["DeleteFaces"] == 1 and active_keys() == dict.fromkeys(keys[1:], 1), explain()
    assert dev.stats()["access_denied"] == [], explain()
    # One invocation per manifest row, as the job role (plus one per TemporaryFailure retry, if any).
    batch_role = dev.deployment.outputs["batch_role_arn"].rsplit("/", 1)[1]
    qualifier = dev.stats()["invocations"][dev.deployment.outputs["batch_function_name"]]
    invoked = qualifier["by_source"][f"invoke:{batch_role}"]
    assert 3 <= invoked <= 3 + job["temporary_failure_retries"], explain()
