"""The small IAM evaluator the front door and the event delivery use."""

from __future__ import annotations

import pytest

from offline.aws.policy_eval import evaluate

ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:Get*", "sqs:SendMessage"],
            "Resource": ["arn:aws:s3:::images/*", "arn:aws:sqs:*:*:q"],
        },
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::images/secret/*"},
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::123456789012:role/batch",
            "Condition": {"StringEquals": {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}},
        },
    ],
}


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("s3:GetObject", "arn:aws:s3:::images/a.png", {}, True),
        ("S3:getobjecttagging", "arn:aws:s3:::images/a.png", {}, True),  # actions are case-insensitive
        ("s3:PutObject", "arn:aws:s3:::images/a.png", {}, False),
        ("s3:GetObject", "arn:aws:s3:::other/a.png", {}, False),
        ("s3:GetObject", "arn:aws:s3:::images/secret/a.png", {}, False),  # an explicit deny wins
        ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:q", {}, True),
        (
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/batch",
            {"iam:PassedToService": "batchoperations.s3.amazonaws.com"},
            True,
        ),
        (
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/batch",
            {"iam:PassedToService": "lambda.amazonaws.com"},
            False,
        ),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/batch", {}, False),
    ],
)
def test_identity_policies(action, resource, context, allowed):
    assert evaluate([ROLE_POLICY], action, resource, context).allowed is allowed


def test_a_denial_says_why():
    assert "NoSecrets" in evaluate([ROLE_POLICY], "s3:GetObject", "arn:aws:s3:::images/secret/x").reason
    assert evaluate([ROLE_POLICY], "s3:PutObject", "arn:aws:s3:::images/x").reason == "no statement allows it"


TOPIC_POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:123456789012:t",
            "Condition": {
                "ArnLike": {"aws:SourceArn": "arn:aws:s3:::inventory-*"},
                "StringEquals": {"aws:SourceAccount": "123456789012"},
            },
        }
    ]
}


@pytest.mark.parametrize(
    ("principal", "context", "allowed"),
    [
        (
            "s3.amazonaws.com",
            {"aws:SourceArn": "arn:aws:s3:::inventory-1", "aws:SourceAccount": "123456789012"},
            True,
        ),
        (
            "s3.amazonaws.com",
            {"AWS:SOURCEARN": "arn:aws:s3:::inventory-1", "aws:SourceAccount": "123456789012"},
            True,
        ),
        (
            "s3.amazonaws.com",
            {"aws:SourceArn": "arn:aws:s3:::images", "aws:SourceAccount": "123456789012"},
            False,
        ),
        ("s3.amazonaws.com", {"aws:SourceArn": "arn:aws:s3:::inventory-1"}, False),
        (
            "events.amazonaws.com",
            {"aws:SourceArn": "arn:aws:s3:::inventory-1", "aws:SourceAccount": "123456789012"},
            False,
        ),
    ],
)
def test_resource_policies_check_the_service_principal_and_source(principal, context, allowed):
    decision = evaluate(
        [TOPIC_POLICY], "sns:Publish", "arn:aws:sns:us-east-1:123456789012:t", context, {"service": principal}
    )
    assert decision.allowed is allowed


def test_unknown_operators_never_grant_and_if_exists_tolerates_missing_keys():
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    unknown = {
        "Statement": [{**statement, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}]
    }
    assert not evaluate(
        [unknown], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:CurrentTime": "2030-01-01"}
    ).allowed
    if_exists = {"Statement": [{**statement, "Condition": {"StringEqualsIfExists": {"s3:prefix": "a/"}}}]}
    assert evaluate([if_exists], "s3:GetObject", "arn:aws:s3:::b/k", {}).allowed
    negated = {
        "Statement": [{**statement, "Condition": {"StringNotEquals": {"aws:SourceAccount": "999999999999"}}}]
    }
    assert evaluate(
        [negated], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceAccount": "123456789012"}
    ).allowed
    assert not evaluate(
        [negated], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceAccount": "999999999999"}
    ).allowed
