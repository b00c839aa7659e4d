"""Secure defaults and least privilege, checked on every resource of every stack file."""

from __future__ import annotations

import json

import pytest
from infra_harness import REPO, Run, as_list, run_main, stack_config, statements

STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))
# Statements allowed a "*" resource, each because the action has no resource-level permission.
STAR_RESOURCE_SIDS = {"XRayTracing", "CreateBatchJobs"}


@pytest.fixture(scope="module", params=STACKS)
def run(request) -> Run:
    return run_main(stack_config(request.param), request.param)


def _for_bucket(run: Run, typ: str, bucket_name: str) -> list:
    return [r for r in run.of_type(typ) if r.inputs.get("bucket") == bucket_name]


def test_every_bucket_is_private_encrypted_owner_enforced_and_tls_only(run):
    buckets = run.of_type("aws:s3/bucket:Bucket")
    assert buckets
    for bucket in buckets:
        name = bucket.outputs["bucket"]
        (pab,) = _for_bucket(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name)
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert pab.inputs[flag] is True, f"{bucket.name}: {flag}"
        (sse,) = _for_bucket(
            run,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            name,
        )
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] in {
            "AES256",
            "aws:kms",
        }
        (ownership,) = _for_bucket(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", name)
        assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        policies = _for_bucket(run, "aws:s3/bucketPolicy:BucketPolicy", name)
        assert len(policies) == 1, f"{bucket.name}: ONE bucket policy, got {len(policies)}"
        deny = [s for s in statements(policies[0]) if s["Effect"] == "Deny"]
        assert deny == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket.outputs["arn"], bucket.outputs["arn"] + "/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]


def test_generated_artefacts_expire_but_run_state_does_not(run):
    lifecycle = run.named("inventory-inventory-lifecycle")
    prefixes = {r["filter"]["prefix"]: r for r in lifecycle.inputs["rules"] if "expiration" in r}
    assert set(prefixes) == {"inventory/", "batch/manifests/", "batch/reports/"}
    assert all(r["status"] == "Enabled" and r["expiration"]["days"] >= 1 for r in prefixes.values())


def test_one_notification_configuration_per_bucket(run):
    buckets = [n.inputs["bucket"] for n in run.of_type("aws:s3/bucketNotification:BucketNotification")]
    assert len(buckets) == len(set(buckets))


def test_queues_are_encrypted_with_one_tls_only_policy_each(run):
    queues = run.of_type("aws:sqs/queue:Queue")
    assert queues
    for queue in queues:
        assert queue.inputs["sqsManagedSseEnabled"] is True
    policies = run.of_type("aws:sqs/queuePolicy:QueuePolicy")
    urls = [p.inputs["queueUrl"] for p in policies]
    assert len(urls) == len(set(urls)), "ONE policy per queue"
    for policy in policies:
        assert statements(policy)[0]["Sid"] == "DenyInsecureTransport"


def test_topics_are_encrypted_with_one_policy_each(run):
    topics = run.of_type("aws:sns/topic:Topic")
    assert topics
    for topic in topics:
        assert topic.inputs.get("kmsMasterKeyId"), topic.name
    arns = [p.inputs["arn"] for p in run.of_type("aws:sns/topicPolicy:TopicPolicy")]
    assert sorted(arns) == sorted(t.outputs["arn"] for t in topics)


def test_kms_keys_rotate(run):
    for key in run.of_type("aws:kms/key:Key"):
        assert key.inputs["enableKeyRotation"] is True


def test_table_is_on_demand_with_pitr_and_sse(run):
    (table,) = run.of_type("aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}
    assert table.inputs["ttl"]["enabled"] is True


def test_functions_are_traced_with_their_own_log_group_with_retention(run):
    functions = run.of_type("aws:lambda/function:Function")
    assert len(functions) == 3
    log_groups = {g.outputs["name"]: g for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for function in functions:
        assert function.inputs["tracingConfig"] == {"mode": "Active"}
        group = log_groups[function.inputs["loggingConfig"]["logGroup"]]
        assert group.inputs["retentionInDays"] >= 1
        assert group.name == f"{function.name}-logs"


def _service_statements(document: dict) -> list[dict]:
    return [
        s
        for s in document["Statement"]
        if isinstance(s.get("Principal"), dict) and "Service" in s["Principal"]
    ]


def test_every_grant_to_a_service_principal_has_source_conditions(run):
    documents = []
    for typ, key in (
        ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
        ("aws:sqs/queuePolicy:QueuePolicy", "policy"),
        ("aws:sns/topicPolicy:TopicPolicy", "policy"),
        ("aws:kms/key:Key", "policy"),
        ("aws:iam/role:Role", "assumeRolePolicy"),
    ):
        documents += [(r.name, json.loads(r.inputs[key])) for r in run.of_type(typ)]
    checked = 0
    for name, document in documents:
        for stmt in _service_statements(document):
            if stmt["Principal"]["Service"] == "lambda.amazonaws.com":
                # Lambda execution-role trust: Lambda sends no source keys (documented exception).
                assert stmt["Action"] == "sts:AssumeRole"
                continue
            conditions = stmt.get("Condition", {})
            if stmt["Principal"]["Service"] == "batchoperations.s3.amazonaws.com":
                # S3 Batch trust: IfExists (see components/inventory_pipeline.py); PassRole is the guard.
                assert "aws:SourceAccount" in conditions.get("StringEqualsIfExists", {}), f"{name}: {stmt}"
                checked += 1
                continue
            assert "aws:SourceAccount" in conditions.get("StringEquals", {}), f"{name}: {stmt}"
            if "sts:AssumeRole" not in as_list(stmt["Action"]):
                assert "aws:SourceArn" in conditions.get("ArnLike", {}), f"{name}: {stmt}"
            checked += 1
    assert checked >= 5


def test_lambda_permissions_are_scoped_to_their_source(run):
    for permission in run.of_type("aws:lambda/permission:Permission"):
        assert permission.inputs["sourceArn"]
        assert permission.inputs["sourceAccount"]


def test_roles_have_exactly_one_inline_policy_and_nothing_attached(run):
    roles = run.of_type("aws:iam/role:Role")
    policies = run.of_type("aws:iam/rolePolicy:RolePolicy")
    assert sorted(p.inputs["role"] for p in policies) == sorted(r.outputs["name"] for r in roles)
    for role in roles:
        assert not role.inputs.get("managedPolicyArns")
        assert not role.inputs.get("inlinePolicies")


def test_identity_policies_name_explicit_actions_and_resources(run):
    for policy in run.of_type("aws:iam/rolePolicy:RolePolicy"):
        for stmt in statements(policy):
            assert stmt["Effect"] == "Allow"
            for action in as_list(stmt["Action"]):
                assert "*" not in action, f"{policy.name}: wildcard action {action}"
            resources = as_list(stmt["Resource"])
            if stmt["Sid"] in STAR_RESOURCE_SIDS:
                assert resources == ["*"]
                continue
            for resource in resources:
                assert resource.startswith("arn:aws:"), f"{policy.name}/{stmt['Sid']}: {resource}"
                assert resource != "*"
                # a wildcard is allowed only as an object/key suffix under a named resource
                head = resource.rsplit("/", 1)[0] if "/" in resource else resource
                assert "*" not in head.split(":", 5)[-1] or resource.endswith(":*"), (
                    f"{policy.name}: {resource}"
                )


def test_create_job_is_narrowed_to_lambda_invoke_jobs(run):
    policy = run.named("inventory-inventory-created-policy")
    (stmt,) = [s for s in statements(policy) if s["Sid"] == "CreateBatchJobs"]
    assert stmt["Action"] == ["s3:CreateJob"]
    assert stmt["Condition"] == {"StringEquals": {"s3:RequestJobOperation": "LambdaInvoke"}}
