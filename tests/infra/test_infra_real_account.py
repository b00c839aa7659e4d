"""What a real AWS account would reject or get wrong, although the mocks accept it (issue 9, item 8).

Log levels Lambda filters by, account-wide names scoped to the stack, the artifacts bucket's lifecycle and
destroy behaviour, IAM statement ids, and reserved concurrency against the account's quota.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_harness import REPO, Recorded, Run, env_of, run_main, stack_config

from components.config import ConfigError, parse_config
from components.iam import policy_document
from components.names import physical_name

STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))
FUNCTIONS = ("inventory-inventory-created", "qualifier-function", "indexer-function")
LAMBDA_LEVEL = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR"}
STATEMENT = {"Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/users"}


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request) -> tuple[str, Run]:
    return request.param, run_main(stack_config(request.param), request.param)


def _stack_log_level(stack: str) -> str:
    return (stack_config(stack).get("bulk-loader:lambda") or {}).get("logLevel", "INFO")


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return str(info.value)


# ---------------------------------------------------------------------------------------- 1. log levels
def test_every_function_filters_at_the_stack_log_level(stack_run):
    stack, run = stack_run
    level = _stack_log_level(stack)
    for fn in FUNCTIONS:
        logging = run.named(fn).inputs["loggingConfig"]
        assert logging["logFormat"] == "JSON", fn
        assert logging["applicationLogLevel"] == LAMBDA_LEVEL[level], fn
        assert logging["systemLogLevel"] == "INFO", fn
        # Powertools prefers Lambda's level (AWS_LAMBDA_LOG_LEVEL): its own variable must name the same one.
        assert env_of(run, fn)["POWERTOOLS_LOG_LEVEL"] == level, fn


def test_the_dev_stack_debug_level_reaches_lambda():
    # Guards the stack file the first test relies on: dev asks for DEBUG, which Lambda would drop at INFO.
    assert _stack_log_level("dev") == "DEBUG"


def test_python_level_names_become_lambda_level_names():
    run = run_main({"lambda": {"logLevel": "WARNING"}})
    for fn in FUNCTIONS:
        assert run.named(fn).inputs["loggingConfig"]["applicationLogLevel"] == "WARN"
        assert env_of(run, fn)["LOG_LEVEL"] == "WARNING"


# -------------------------------------------------------------------------------------- 2. scoped names
LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
INVENTORY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _layer_names(run: Run) -> set[str]:
    return {r.inputs["layerName"] for r in run.of_type("aws:lambda/layerVersion:LayerVersion")}


def _inventory_ids(run: Run) -> set[str]:
    return {r.inputs["name"] for r in run.of_type("aws:s3/inventory:Inventory")}


def test_two_stacks_in_one_account_get_different_layer_names_and_inventory_ids():
    # Both on the same existing image bucket: the second inventory configuration must not replace the first.
    config = {"imageBucket": {"name": "shared-photos"}}
    first, second = run_main(config, "team-a"), run_main(config, "team-b")
    assert len(_layer_names(first)) == 3 and len(_inventory_ids(first)) == 1
    assert not _layer_names(first) & _layer_names(second)
    assert not _inventory_ids(first) & _inventory_ids(second)
    assert first.exports["inventory_configuration_id"] == "bulk-loader-team-a-inventory"


def test_scoped_names_stay_within_their_limits_for_long_stack_names():
    long_a, long_b = "org.with.dots-" + "x" * 90 + "-a", "org.with.dots-" + "x" * 90 + "-b"
    first, second = run_main({}, long_a), run_main({}, long_b)
    for run in (first, second):
        for name in _layer_names(run):
            assert LAYER_NAME.fullmatch(name), name
        for inventory_id in _inventory_ids(run):
            assert INVENTORY_ID.fullmatch(inventory_id), inventory_id
        assert run.exports["inventory_configuration_id"] in _inventory_ids(run)
    # cut to the limit, yet different: the hash of the whole name survives the cut
    assert not _layer_names(first) & _layer_names(second)
    assert not _inventory_ids(first) & _inventory_ids(second)


def test_physical_names_keep_only_ascii_and_stay_distinct_when_cut():
    assert physical_name("bulk-loader-prød-x") == "bulk-loader-pr-d-x"
    a, b = physical_name("p-" + "s" * 80 + "-one"), physical_name("p-" + "s" * 80 + "-two")
    assert len(a) == len(b) == 64 and a != b
    assert physical_name("short-name") == "short-name"


# ----------------------------------------------------------------------------------- 3. artifacts bucket
def _artifacts(run: Run) -> tuple[Recorded, Recorded]:
    bucket = run.named("inventory-artifacts")
    lifecycle = run.named("inventory-artifacts-lifecycle")
    assert lifecycle.inputs["bucket"] == bucket.outputs["bucket"]
    return bucket, lifecycle


def test_artifacts_bucket_expires_noncurrent_layer_zips_and_abandoned_uploads(stack_run):
    _, run = stack_run
    _, lifecycle = _artifacts(run)
    assert (
        run.named("inventory-artifacts-versioning").inputs["versioningConfiguration"]["status"] == "Enabled"
    )
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] >= 1
    assert rule["expiration"] == {"expiredObjectDeleteMarker": True}
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] >= 1
    # the lifecycle of a versioned bucket is applied once versioning is on
    assert "inventory-artifacts-versioning" in run.depends_on["inventory-artifacts-lifecycle"]


def test_artifacts_bucket_never_blocks_destroy_while_the_inventory_bucket_keeps_its_setting(stack_run):
    stack, run = stack_run
    bucket, _ = _artifacts(run)
    assert bucket.inputs["forceDestroy"] is True
    wanted = (stack_config(stack).get("bulk-loader:inventoryPipeline") or {}).get("forceDestroy", False)
    assert run.named("inventory-inventory").inputs["forceDestroy"] is wanted


def test_the_prod_stack_keeps_its_inventory_bucket_on_destroy():
    # Guards the previous test: one stack file must exercise "inventory bucket not force-destroyed".
    assert not (stack_config("prod").get("bulk-loader:inventoryPipeline") or {}).get("forceDestroy", False)


# ------------------------------------------------------------------------------------- 4. statement ids
@pytest.mark.parametrize("sid", ["read-users", "Read Users", "Read_Users", "Lesbar\u00e9", "", 7])
def test_an_extra_statement_sid_outside_iams_rule_names_key_index_and_sid(sid):
    message = _error(
        {
            "batchQualifier": {
                "extraPolicyStatements": [{"Sid": "ReadUsers", **STATEMENT}, {"Sid": sid, **STATEMENT}]
            }
        }
    )
    assert (
        "bulk-loader:batchQualifier.extraPolicyStatements[1]: Sid must be ASCII letters and digits" in message
    )
    assert repr(sid) in message


def test_extra_statement_sids_must_be_unique():
    message = _error({"batchQualifier": {"extraPolicyStatements": [{"Sid": "ReadUsers", **STATEMENT}] * 2}})
    assert "bulk-loader:batchQualifier.extraPolicyStatements: Sid 'ReadUsers' of statement [1]" in message


def test_a_valid_sid_is_kept_and_statements_without_one_are_numbered():
    run = run_main(
        {"batchQualifier": {"extraPolicyStatements": [{"Sid": "ReadUsers2", **STATEMENT}, STATEMENT]}}
    )
    sids = [s["Sid"] for s in _documents_of(run.named("qualifier-function-policy"))[0]["Statement"]]
    assert "ReadUsers2" in sids and "Provider1" in sids


def test_an_extra_sid_that_the_component_already_uses_stops_the_program():
    with pytest.raises(ValueError, match=r"Sid 'ReadProperties' appears twice"):
        run_main({"batchQualifier": {"extraPolicyStatements": [{"Sid": "ReadProperties", **STATEMENT}]}})


def test_policy_document_rejects_sids_iam_would_reject():
    with pytest.raises(ValueError, match=r"'Bad-Sid'"):
        policy_document([{"Sid": "Bad-Sid", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}])


def _documents_of(resource: Recorded) -> list[dict[str, Any]]:
    """Every input of a resource that holds a policy document (JSON text with a Statement list)."""
    found = []
    for value in resource.inputs.values():
        if not (isinstance(value, str) and value.startswith("{")):
            continue
        try:
            document = json.loads(value)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "Statement" in document:
            found.append(document)
    return found


def test_every_policy_the_stack_writes_has_valid_unique_sids(stack_run):
    _, run = stack_run
    documents = [(r.name, d) for r in run.resources for d in _documents_of(r)]
    covered = {r.typ for r in run.resources if _documents_of(r)}
    assert covered >= {
        "aws:iam/role:Role",  # trust policies
        "aws:iam/rolePolicy:RolePolicy",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:kms/key:Key",
    }
    for name, document in documents:
        sids = [s["Sid"] for s in document["Statement"] if "Sid" in s]
        assert all(isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), (name, sids)
        assert len(sids) == len(set(sids)), (name, sids)


# --------------------------------------------------------------------------------------- 5. concurrency
def test_reserved_concurrency_beyond_the_account_quota_says_what_to_do():
    message = _error({"batchQualifier": {"reservedConcurrency": 901}})
    assert "bulk-loader:batchQualifier.reservedConcurrency (901)" in message
    assert "can reserve at most 900 (Lambda keeps 100 unreserved)" in message
    assert "request a higher 'Concurrent executions' quota" in message and "lower the setting" in message


def test_the_account_limit_is_configurable():
    parse_config({"batchQualifier": {"reservedConcurrency": 900}})  # exactly what a default account allows
    assert "lambda.accountConcurrencyLimit 150 can reserve at most 50" in _error(
        {"lambda": {"accountConcurrencyLimit": 150}, "batchQualifier": {"reservedConcurrency": 51}}
    )
    cfg = parse_config(
        {"lambda": {"accountConcurrencyLimit": 5000}, "batchQualifier": {"reservedConcurrency": 1000}}
    )
    assert cfg.reserved_concurrency == {"batchQualifier.reservedConcurrency": 1000}


def test_a_left_out_qualifier_reserves_nothing_here():
    cfg = parse_config(
        {
            "lambda": {"accountConcurrencyLimit": 100},
            "batchQualifier": {
                "enabled": False,
                "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:existing",
            },
        }
    )
    assert cfg.reserved_concurrency == {}


def test_the_program_stops_before_deploying_an_impossible_reservation():
    with pytest.raises(ConfigError, match=r"batchQualifier\.reservedConcurrency \(20\)"):
        run_main({"lambda": {"accountConcurrencyLimit": 110}, "batchQualifier": {"reservedConcurrency": 20}})
