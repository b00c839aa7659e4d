"""The `bulk-loader` command against the offline runtime (`--endpoint-url`), IAM enforced, the dev stack.

1. An inventory is imported while the gateway is down: every message is given up (history `failed`, then the
   DLQ). `status`, `history` and `redrive --dry-run` show it; after the gateway is back `redrive` moves the
   DLQ to the input queue and every image ends indexed exactly once; `import-now` re-running the newest
   inventory registers nothing twice.
2. A freshly deployed stack with no inventory at all: `import-now` starts an S3 Batch job whose manifest S3
   generates (the emulator's manifest generator), and `status` reports the run settled with its counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_support import FAST_INDEXER, active_by_key, deliver_inventory, explain, history, put_images

from cli.main import main
from offline.deployment.program import REPO_ROOT, read_stack_config
from offline.gateways.limits import FaultPlan

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def operator(
    runtime, config_overrides, tmp_path: Path, monkeypatch, capsys
) -> Callable[..., tuple[int, Any]]:
    """`bulk-loader ... --json` against this runtime, as its admin (the stack's outputs in a file): returns
    (exit status, the JSON printed or the error text); bad usage (exit 2) fails the test with its message."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(runtime.deployment.outputs))
    region = read_stack_config(REPO_ROOT, "dev", config_overrides)[1].get("aws:region", runtime.region)
    admin = runtime.admin_credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", admin["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", admin["SecretAccessKey"])
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    stack = ["--json", "--outputs", str(outputs), "--endpoint-url", runtime.endpoint, "--region", region]

    def cli(*argv: str) -> tuple[int, Any]:
        code = main([*argv, *stack])
        captured = capsys.readouterr()
        assert code != 2, captured.err
        return code, json.loads(captured.out) if captured.out.strip() else captured.err

    return cli


class SwitchableGateway(FaultPlan):
    """The emulated gateway's faults: every data-plane request is an outage (HTTP 500) while `down`."""

    down = True

    def next(self, subject: str | None = None):
        return "outage" if self.down else super().next(subject)


def test_operator_sees_repairs_and_reruns_an_import(dev_stack, tmp_path: Path, monkeypatch, capsys) -> None:
    gateway = SwitchableGateway()
    # Two deliveries, and no waiting for a busy gateway beyond them: an outage gives messages up quickly.
    worker_env = {"indexer-function": {**FAST_INDEXER["indexer-function"], "MAX_WAIT_HOURS": "0"}}
    overrides = {"throttledIndexer": {"maxReceiveCount": 2}}
    runtime, faces = dev_stack(
        config_overrides=overrides, rekognition={"faults": gateway}, worker_env=worker_env
    )
    cli = operator(runtime, overrides, tmp_path, monkeypatch, capsys)

    keys = ["users/op one.png", "users/op+two.png", "users/op-three.png"]
    deliver_inventory(runtime, put_images(runtime, keys))
    runtime.run_until_idle(120)
    assert {k: history(runtime)[k]["status"] for k in keys} == dict.fromkeys(keys, "failed"), explain(
        runtime, faces
    )

    code, status = cli("status")
    assert code == 1, status  # the DLQ holds messages
    run_id = status["run_id"]
    assert run_id and status["history"] == {"failed": 3}, status
    assert [j["status"] for j in status["jobs"]] == ["Complete"], status
    assert status["dlq_messages"] == 3, status
    code, failures = cli("history", "failures", "--since", "1h")
    assert code == 0 and sorted(r["key"] for r in failures["records"]) == sorted(keys), failures
    code, dry = cli("redrive", "--dlq", "--dry-run")
    assert code == 0 and dry["results"][0]["waiting"] == 3, dry

    gateway.down = False
    code, moved = cli("redrive", "--dlq")
    assert code == 0, moved
    assert (moved["results"][0]["method"], moved["results"][0]["moved"]) == ("resend", 3), moved
    runtime.run_until_idle(120)

    code, status = cli("status", run_id)
    assert code == 0, status
    assert status["settled"] and status["history"] == {"indexed": 3} and status["dlq_messages"] == 0, status
    code, one = cli("history", "object", f"s3://{runtime.deployment.outputs['image_bucket_name']}/{keys[1]}")
    assert code == 0 and [r["status"] for r in one["records"]] == ["indexed"], one
    code, counted = cli("history", "run", run_id, "--count")
    assert code == 0 and counted["counts"] == {"indexed": 3}, counted

    code, started = cli("import-now")
    assert code == 0 and started["source"] == "inventory", started
    runtime.run_until_idle(120)
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert faces.registry.duplicates == [], explain(runtime, faces)
    assert runtime.stats()["access_denied"] == [], explain(runtime, faces)


def test_import_now_on_a_stack_without_any_inventory(dev_stack, tmp_path: Path, monkeypatch, capsys) -> None:
    runtime, faces = dev_stack()
    cli = operator(runtime, None, tmp_path, monkeypatch, capsys)

    keys = ["fresh/a.png", "fresh/b c.png"]
    put_images(runtime, keys)
    runtime.client("s3").put_object(
        Bucket=runtime.deployment.outputs["image_bucket_name"], Key="fresh/notes.txt", Body=b"not an image"
    )
    code, started = cli("import-now")
    assert code == 0 and started["source"] == "generated-manifest", started
    runtime.run_until_idle(120)
    code, status = cli("status", started["run_id"])
    assert code == 0, json.dumps(status["jobs"])
    [job] = status["jobs"]
    assert (job["status"], job["tasks_total"], job["tasks_succeeded"]) == ("Complete", 2, 2), status
    _, reasons = cli("history", "run", started["run_id"], "--count", "reason")
    assert status["settled"] and status["history"] == {"indexed": 2}, (status, reasons)
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert runtime.stats()["access_denied"] == [], explain(runtime, faces)
