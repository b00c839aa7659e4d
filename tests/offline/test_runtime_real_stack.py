"""The project's own program (__main__.py, stack dev) deployed into the emulator; its functions import."""

from __future__ import annotations

import json

import pytest

from offline.deploy import REPO_ROOT
from offline.runtime import OfflineRuntime

pytestmark = pytest.mark.e2e


class _Collections:
    """Just enough Rekognition for the deployment (the demo has the real emulator)."""

    def handle(self, action, body, caller):
        if action == "CreateCollection":
            return 200, {"StatusCode": 200, "FaceModelVersion": "7.0"}
        return 400, {"__type": "InvalidParameterException", "Message": f"{action} not emulated in this test"}


@pytest.fixture(scope="module")
def dev() -> OfflineRuntime:
    if not (REPO_ROOT / "__main__.py").exists():
        pytest.skip("the Pulumi program is not there yet")
    runtime = OfflineRuntime()
    runtime.start()
    runtime.set_rekognition_handler(_Collections())
    try:
        runtime.deploy("dev")
        runtime.enforce_iam()
        yield runtime
    finally:
        runtime.stop()


def test_every_resource_of_the_dev_stack_is_created(dev: OfflineRuntime):
    assert dev.deployment.not_created == []
    assert len(dev.deployment.functions) == 3
    assert len(dev.deployment.mappings) == 1
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
