"""The HTTP gateway against a real local HTTP server (127.0.0.1, port 0), scripted per test."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import boto3
import pytest
from indexer_fixtures import Scripted, ScriptedGateway, first_attempt, import_message, jpeg_bytes, put_image

from handlers.common.contracts import ObjectRef, dump_message
from handlers.throttled_indexer.gateway import GatewayBusy, GatewayRejected, RegistrationRequest
from handlers.throttled_indexer.http_gateway import ApiKeySource, HttpGateway, sigv4_signer

OBJ = ObjectRef(bucket="images", key="a.jpg", version_id="v1")
# Every scripted delay is bounded; the client timeout in these tests is far below it.
SLOW_SECONDS = 1.0
CLIENT_TIMEOUT = 0.3


@pytest.fixture
def api() -> Iterator[ScriptedGateway]:
    with ScriptedGateway() as server:
        yield server


def _request(image: bytes = b"\xff\xd8img") -> RegistrationRequest:
    return RegistrationRequest(obj=OBJ, user_id="Zoë", properties={"dept": "R&D"}, image=image)


def test_register_posts_the_documented_json_and_records_the_id(api):
    api.script.append(Scripted(201, b'{"ImageId": "img-42", "other": 1}'))
    registration = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())
    assert registration.image_id == "img-42" and not registration.already_registered
    (sent,) = api.received
    assert sent.path == "/api/register"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "UserId": "Zoë",
        "Properties": {"dept": "R&D"},
        "Image": base64.b64encode(b"\xff\xd8img").decode(),
    }


def test_409_means_already_registered(api):
    api.script.append(Scripted(409, b'{"message": "exists"}'))
    registration = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())
    assert registration.already_registered and registration.image_id is None
    assert registration.details["registration_id_unknown"] is True


def test_a_409_that_names_the_registration_keeps_its_id_for_deregistration(api):
    # After a lost answer, the registration that exists is ours: without its id a delete could not remove it.
    api.script.append(Scripted(409, b'{"error": "already registered", "ImageId": "img-7"}'))
    registration = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())
    assert registration.already_registered and registration.image_id == "img-7"
    assert "registration_id_unknown" not in registration.details


def test_429_is_busy_and_honours_retry_after_seconds(api):
    api.script.append(Scripted(429, b"slow down", {"Retry-After": "120"}))
    with pytest.raises(GatewayBusy) as caught:
        HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())
    assert caught.value.retry_after == 120 and "429" in caught.value.reason


def test_retry_after_as_an_http_date(api):
    now = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    api.script.append(
        Scripted(503, b"", {"Retry-After": format_datetime(now + timedelta(seconds=90), usegmt=True)})
    )
    with pytest.raises(GatewayBusy) as caught:
        HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT, clock=lambda: now).register(_request())
    assert caught.value.retry_after == 90


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_busy(api, status):
    api.script.append(Scripted(status, b"oops"))
    with pytest.raises(GatewayBusy, match=str(status)):
        HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_other_4xx_are_permanent_with_status_and_excerpt(api, status):
    api.script.append(Scripted(status, b'{"error": "image is not a face photo"}' + b"x" * 2000))
    with pytest.raises(GatewayRejected) as caught:
        HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())
    assert caught.value.code == f"http-{status}"
    assert "image is not a face photo" in caught.value.message
    assert len(caught.value.details["body_excerpt"]) <= 300


def test_a_slow_gateway_times_out_as_busy(api):
    api.script.append(Scripted(200, b"{}", delay=SLOW_SECONDS))
    with pytest.raises(GatewayBusy, match="timed out"):
        HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT).register(_request())


def test_a_gateway_that_is_down_is_busy():
    with ScriptedGateway() as server:
        url = server.url
    with pytest.raises(GatewayBusy):
        HttpGateway(url, timeout_seconds=CLIENT_TIMEOUT).register(_request())


def test_deregister_posts_user_and_image_id_and_accepts_404(api):
    api.script += [Scripted(200), Scripted(404)]
    gateway = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT)
    gateway.deregister("Zoë", (), "img-42")
    gateway.deregister("Zoë", (), None)
    assert [r.path for r in api.received] == ["/api/deregister", "/api/deregister"]
    assert json.loads(api.received[0].body) == {"UserId": "Zoë", "ImageId": "img-42"}


def test_api_key_from_secrets_manager_is_cached_and_reread_after_403(api, aws):
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="gw-key", SecretString=json.dumps({"api_key": "k1"}))["ARN"]
    gateway = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT, api_key=ApiKeySource(secrets, arn))
    gateway.register(_request())
    secrets.put_secret_value(SecretId=arn, SecretString="k2")  # rotated
    api.script += [Scripted(200), Scripted(403, b"bad key"), Scripted(200)]
    gateway.register(_request())  # still the cached key: accepted
    gateway.register(_request())  # 403 with the old key, read again, retried once
    assert [r.headers.get("x-api-key") for r in api.received] == ["k1", "k1", "k1", "k2"]


def test_sigv4_signs_for_execute_api(api):
    credentials = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1"
    ).get_credentials
    gateway = HttpGateway(
        api.url, timeout_seconds=CLIENT_TIMEOUT, signer=sigv4_signer(credentials, "eu-west-1")
    )
    gateway.register(_request())
    authorization = api.received[0].headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in api.received[0].headers


def test_importer_with_the_http_gateway_end_to_end(api, s3, history, make_importer):
    gateway = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT)
    importer = make_importer(gateway=gateway)
    data = jpeg_bytes("portal")
    first = put_image(s3, "one.jpg", data)
    second = put_image(s3, "two.jpg", jpeg_bytes("other"))
    third = put_image(s3, "three.jpg", jpeg_bytes("third"))
    api.script += [
        Scripted(200, b'{"FaceId": "p-1"}'),
        Scripted(409),
        Scripted(429, headers={"Retry-After": "7"}),
    ]
    assert importer.process(import_message(first), first_attempt()).label == "indexed"
    assert base64.b64decode(json.loads(api.received[0].body)["Image"]) == data
    assert history.get(first).image_id == "p-1"
    assert importer.process(import_message(second), first_attempt()).label == "indexed"
    assert history.get(second).reason == "already-registered"
    busy = importer.process(import_message(third), first_attempt())
    assert (busy.done, busy.busy, busy.retry_after) == (False, True, 7)


def test_a_slow_gateway_in_a_batch_defers_the_rest_instead_of_blocking(api, s3, history, make_importer):
    from handlers.throttled_indexer.batch import BatchConfig, BatchRunner
    from handlers.throttled_indexer.deleter import Deleter

    gateway = HttpGateway(api.url, timeout_seconds=CLIENT_TIMEOUT)
    importer = make_importer(gateway=gateway)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="slow-test")["QueueUrl"]
    objs = [put_image(s3, f"{i}.jpg", jpeg_bytes(f"slow{i}")) for i in range(3)]
    for obj in objs:
        sqs.send_message(QueueUrl=url, MessageBody=dump_message(import_message(obj)))
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "messageAttributes": {},
        }
        for m in messages
    ]
    api.script.append(Scripted(200, b"{}", delay=SLOW_SECONDS))
    runner = BatchRunner(
        sqs=sqs,
        history=history,
        process_import=importer.process,
        process_delete=Deleter(s3=s3, history=history, gateway=gateway).process,
        config=BatchConfig(queue_url=url),
    )
    result = runner.run(records)
    assert result.labels == ["retry:busy", "retry:deferred", "retry:deferred"]
    assert len(api.received) == 1  # one slow call, not three
    assert len(result.failures) == 3
    assert history.get(objs[0]).status == "queued" and "timed out" in history.get(objs[0]).reason
