"""CI workflows: tests on every push/PR via `.ci/run`; a Pulumi preview per stack on PRs, OIDC credentials."""

from __future__ import annotations

import yaml
from infra_harness import REPO

WORKFLOWS = REPO / ".github" / "workflows"
STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def test_tests_run_on_every_push_and_pull_request_through_ci_run():
    workflow = _load("test.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    runs = [s.get("run", "") for s in _steps(workflow, "test")]
    assert ".ci/run" in runs
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_preview_covers_every_stack_on_pull_requests_with_oidc():
    workflow = _load("preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["permissions"]["pull-requests"] == "write"
    job = workflow["jobs"]["preview"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == STACKS
    steps = {s.get("uses", "").split("@")[0]: s for s in job["steps"] if "uses" in s}
    aws = steps["aws-actions/configure-aws-credentials"]["with"]
    assert aws["role-to-assume"].startswith("${{ vars.")
    assert "aws-access-key-id" not in aws
    pulumi = steps["pulumi/actions"]
    assert pulumi["uses"] == "pulumi/actions@v6"
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"].endswith("${{ matrix.stack }}")
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    order = [s.get("uses", s.get("run", "")).split("@")[0] for s in job["steps"]]
    assert order.index("make venv lambda-deps") < order.index("pulumi/actions")
