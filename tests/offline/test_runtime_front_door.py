"""The front door: routing by service, counting API calls, proxying IAM for emulated services."""

from __future__ import annotations

import hashlib
import json
import os

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from offline.runtime import OfflineRuntime


class FakeRekognition:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str]] = []

    def handle(self, action, body, caller):
        self.calls.append((action, body, caller.label))
        if body.get("CollectionId") == "missing":
            return 400, {"__type": "ResourceNotFoundException", "Message": "no such collection"}
        return 200, {"FaceRecords": [], "UnindexedFaces": []}


def test_calls_are_counted_per_service_and_action(tiny: OfflineRuntime):
    before = dict(tiny.stats()["api_calls"])
    tiny.client("s3").list_buckets()
    tiny.client("sqs").get_queue_attributes(
        QueueUrl=tiny.deployment.outputs["queue_url"], AttributeNames=["All"]
    )
    tiny.client("dynamodb").describe_table(TableName=tiny.deployment.outputs["table"])
    after = tiny.stats()["api_calls"]
    for key in ("s3:ListBuckets", "sqs:GetQueueAttributes", "dynamodb:DescribeTable"):
        assert after[key] == before.get(key, 0) + 1
    assert tiny.stats()["api_calls_by_caller"]["admin s3:ListBuckets"] >= 1


def test_objects_pass_through_unchanged(tiny: OfflineRuntime):
    s3 = tiny.client("s3")
    bucket = tiny.deployment.outputs["image_bucket"]
    body = os.urandom(3 * 1024 * 1024)  # larger than the front door's in-memory limit: streamed
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()
    assert tiny.stats()["api_calls"]["s3:PutObject"] >= 1 and tiny.stats()["api_calls"]["s3:GetObject"] >= 1


def test_a_chunked_request_body_is_forwarded_whole(tiny: OfflineRuntime):
    import http.client
    from urllib.parse import urlsplit

    bucket = tiny.deployment.outputs["image_bucket"]
    parts = urlsplit(tiny.endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunks = [b"first-", b"second-", b"third"]
    connection.request(
        "PUT",
        f"/{bucket}/chunked.txt",
        body=iter(chunks),
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=offline/20260101/us-east-1/s3/aws4_request"},
        encode_chunked=True,
    )
    assert connection.getresponse().status == 200
    connection.close()
    assert tiny.client("s3").get_object(Bucket=bucket, Key="chunked.txt")["Body"].read() == b"".join(chunks)


def test_rekognition_goes_to_the_pluggable_handler(tiny: OfflineRuntime):
    fake = FakeRekognition()
    tiny.set_rekognition_handler(fake)
    rekognition = tiny.client("rekognition", max_attempts=1)
    assert rekognition.index_faces(CollectionId="faces", Image={"Bytes": b"x"})["FaceRecords"] == []
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
        rekognition.index_faces(CollectionId="missing", Image={"Bytes": b"x"})
    assert [(a, b["CollectionId"], c) for a, b, c in fake.calls] == [
        ("IndexFaces", "faces", "admin"),
        ("IndexFaces", "missing", "admin"),
    ]


def test_with_iam_enforced_denials_name_the_action(tiny: OfflineRuntime):
    """Last in the module: enforcement stays on."""
    tiny.set_rekognition_handler(FakeRekognition())
    tiny.enforce_iam()
    echo_role = tiny.deployment.functions[tiny.deployment.outputs["function_name"]].role_arn
    # The runtime's own identity keeps working.
    tiny.client("s3").list_buckets()
    # Emulated service (Lambda Invoke): the front door evaluates the role's policies.
    lam = tiny.role_client("lambda", echo_role, max_attempts=1)
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName=tiny.deployment.outputs["function_name"], Payload=b"{}")
    assert error.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "lambda:InvokeFunction" in error.value.response["Error"]["Message"]
    rekognition = tiny.role_client("rekognition", echo_role, max_attempts=1)
    with pytest.raises(ClientError) as error:
        rekognition.index_faces(CollectionId="faces", Image={"Bytes": b"x"})
    assert "rekognition:IndexFaces" in error.value.response["Error"]["Message"]
    # moto's own enforcement (S3): recorded with the action too.
    with pytest.raises(ClientError):
        tiny.role_client("s3", echo_role, max_attempts=1).list_buckets()
    # What the role may do still works.
    tiny.role_client("sqs", echo_role).get_queue_attributes(
        QueueUrl=tiny.deployment.outputs["queue_url"], AttributeNames=["QueueArn"]
    )
    denied = {(d["action"], d["caller"]) for d in tiny.stats()["access_denied"]}
    role_name = echo_role.rsplit("/", 1)[-1]
    assert {
        ("lambda:InvokeFunction", role_name),
        ("rekognition:IndexFaces", role_name),
        ("s3:ListBuckets", role_name),
    } <= denied
    assert tiny.stats()["access_denied_counts"][f"{role_name} lambda:InvokeFunction"] == 1
    # Credentials nobody issued are refused by the emulated services as well.
    stranger = boto3.client(
        "lambda",
        endpoint_url=tiny.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIASTRANGER00000000",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as error:
        stranger.invoke(FunctionName=tiny.deployment.outputs["function_name"], Payload=json.dumps({}))
    assert "lambda:InvokeFunction" in error.value.response["Error"]["Message"]
