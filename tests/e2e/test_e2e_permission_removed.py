"""A permission removed from a role after deployment: the run fails, and the failure names the denied action
(the runtime's denials, the S3 Batch completion report)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from e2e_support import deliver_inventory, explain, put_images, report_rows

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _without(document: dict, action: str) -> dict:
    statements = []
    for statement in document["Statement"]:
        actions = statement.get("Action")
        listed = [actions] if isinstance(actions, str) else list(actions or [])
        if action in listed:
            listed.remove(action)
            if not listed:
                continue
            statement = {**statement, "Action": listed}
        statements.append(statement)
    return {**document, "Statement": statements}


def test_the_qualifier_losing_sqs_send_message_fails_the_run_naming_it(dev_stack):
    runtime, faces = dev_stack()
    iam = runtime.client("iam")
    role = runtime.deployment.outputs["batch_function_role_arn"].rsplit("/", 1)[1]
    removed_from = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = json.loads(unquote(document)) if isinstance(document, str) else document
        reduced = _without(document, "sqs:SendMessage")
        if reduced != document:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
            removed_from.append(name)
    assert removed_from, f"no inline policy of {role} grants sqs:SendMessage"

    keys = [f"users/denied-{n}.png" for n in range(2)]
    deliver_inventory(runtime, put_images(runtime, keys))
    runtime.run_until_idle(180)
    stats = runtime.stats()

    denied = [d for d in stats["access_denied"] if "sqs:SendMessage" in json.dumps(d)]
    assert denied, explain(runtime, faces)
    assert role in json.dumps(denied), denied
    [job] = stats["jobs"]
    assert job["failed"] == len(keys) and job["succeeded"] == 0, explain(runtime, faces)
    failures = [row for row in report_rows(runtime, job) if row[3] == "failed"]
    assert len(failures) == len(keys), failures
    assert all("SendMessage" in " ".join(row[5:]) for row in failures), failures
    assert faces.calls["IndexFaces"] == 0
