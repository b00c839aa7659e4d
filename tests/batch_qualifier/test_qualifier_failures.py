"""AWS failures mapped onto S3 Batch result codes: throttling, 5xx, timeouts retry; the rest is explained."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber
from qualifier_fixtures import IMAGE_BUCKET, NO_RETRY, PNG, REGION, make_task

from handlers.batch_qualifier.outcomes import RESULT_STRING_MAX_BYTES, clip_result_string
from handlers.batch_qualifier.providers.s3_tags import S3TagsProvider
from handlers.batch_qualifier.qualifier import Qualifier
from handlers.batch_qualifier.registration import Skip
from handlers.common.history import HistoryStore

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/qualifier-input"


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION, config=NO_RETRY)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def _tags_ok(stubber: Stubber, user_id: str = "alice") -> None:
    stubber.add_response(
        "get_object_tagging",
        {"TagSet": [{"Key": "UserId", "Value": user_id}]},
        {"Bucket": IMAGE_BUCKET, "Key": "a.png"},
    )


def _probe_ok(stubber: Stubber) -> None:
    stubber.add_response(
        "get_object",
        {
            "Body": StreamingBody(io.BytesIO(PNG[:16]), 16),
            "ETag": '"abc123"',
            "ContentLength": 16,
            "ContentRange": f"bytes 0-15/{len(PNG)}",
        },
        {"Bucket": IMAGE_BUCKET, "Key": "a.png", "Range": "bytes=0-15"},
    )


def _qualifier(s3: Any, sqs: Any, history: Any = None, provider: Any = None) -> Qualifier:
    return Qualifier(
        s3=s3,
        sqs=sqs,
        queue_url=QUEUE_URL,
        provider=provider or S3TagsProvider(clients=lambda service: s3),
        image_suffixes=(".png",),
        history=history,
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("SlowDown", 503),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("RequestTimeout", 400),
        ("ThrottlingException", 400),
        ("SomethingNew", 502),
    ],
)
def test_throttling_and_server_errors_reading_tags_are_temporary(code, status):
    s3, stubber = _stubbed("s3")
    sqs, _ = _stubbed("sqs")
    stubber.add_client_error("get_object_tagging", service_error_code=code, http_status_code=status)
    result = _qualifier(s3, sqs).qualify(make_task("a.png"))
    assert (result.result_code, result.outcome) == ("TemporaryFailure", "temporary")
    assert result.result_string.startswith(f"retry:s3:GetObjectTagging: {code}")
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_throttling_on_the_image_probe_is_temporary(code, status):
    s3, stubber = _stubbed("s3")
    sqs, _ = _stubbed("sqs")
    _tags_ok(stubber)
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    result = _qualifier(s3, sqs).qualify(make_task("a.png"))
    assert result.result_code == "TemporaryFailure"
    assert result.result_string.startswith(f"retry:s3:GetObject: {code}")


def test_throttling_on_the_properties_object_is_temporary_not_invalid():
    s3, stubber = _stubbed("s3")
    sqs, _ = _stubbed("sqs")
    stubber.add_response(
        "get_object_tagging",
        {
            "TagSet": [
                {"Key": "UserId", "Value": "a"},
                {"Key": "Properties", "Value": "s3://props-bucket/a.json"},
            ]
        },
    )
    stubber.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
    result = _qualifier(s3, sqs).qualify(make_task("a.png"))
    assert result.result_code == "TemporaryFailure"
    assert "s3:GetObject (Properties)" in result.result_string


@pytest.mark.parametrize(
    ("operation", "action"),
    [("get_object_tagging", "s3:GetObjectTagging"), ("get_object", "s3:GetObject")],
)
def test_access_denied_fails_permanently_naming_the_action(operation, action):
    s3, stubber = _stubbed("s3")
    sqs, _ = _stubbed("sqs")
    if operation == "get_object":
        _tags_ok(stubber)
    stubber.add_client_error(operation, service_error_code="AccessDenied", http_status_code=403)
    result = _qualifier(s3, sqs).qualify(make_task("a.png"))
    assert (result.result_code, result.outcome) == ("PermanentFailure", "denied")
    assert result.result_string.startswith(f"error:access-denied: {action} was denied")


def test_access_denied_on_a_version_names_the_version_action():
    s3, stubber = _stubbed("s3")
    sqs, _ = _stubbed("sqs")
    stubber.add_client_error("get_object_tagging", service_error_code="AccessDenied", http_status_code=403)
    result = _qualifier(s3, sqs).qualify(make_task("a.png", version_id="v1"))
    assert "s3:GetObjectVersionTagging was denied" in result.result_string


def test_an_archived_object_fails_permanently_with_the_s3_error():
    s3, stubber = _stubbed("s3")
    sqs, _ = _stubbed("sqs")
    _tags_ok(stubber)
    stubber.add_client_error("get_object", service_error_code="InvalidObjectState", http_status_code=403)
    result = _qualifier(s3, sqs).qualify(make_task("a.png"))
    # S3 answers 403 here, but it is not a permission problem: the report must say what S3 said.
    assert (result.result_code, result.outcome) == ("PermanentFailure", "error")
    assert result.result_string.startswith("error:s3:GetObject: InvalidObjectState")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("RequestThrottled", 403, "TemporaryFailure"),
        ("KmsThrottled", 400, "TemporaryFailure"),
        ("ServiceUnavailable", 503, "TemporaryFailure"),
        ("AccessDenied", 403, "PermanentFailure"),
        ("NonExistentQueue", 400, "PermanentFailure"),
    ],
)
def test_send_message_failures(code, status, expected):
    s3, s3_stubber = _stubbed("s3")
    sqs, sqs_stubber = _stubbed("sqs")
    _tags_ok(s3_stubber)
    _probe_ok(s3_stubber)
    sqs_stubber.add_client_error("send_message", service_error_code=code, http_status_code=status)
    result = _qualifier(s3, sqs).qualify(make_task("a.png"))
    assert result.result_code == expected
    assert "sqs:SendMessage" in result.result_string


def test_a_throttled_history_write_is_temporary(aws):
    s3, s3_stubber = _stubbed("s3")
    sqs, sqs_stubber = _stubbed("sqs")
    _tags_ok(s3_stubber)
    _probe_ok(s3_stubber)
    sqs_stubber.add_response("send_message", {"MessageId": "m-1"})
    table = boto3.resource("dynamodb", region_name=REGION, config=NO_RETRY).Table("history")
    history_stubber = Stubber(table.meta.client)
    history_stubber.add_client_error(
        "update_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
    )
    history_stubber.activate()
    result = _qualifier(s3, sqs, history=HistoryStore(table)).qualify(make_task("a.png"))
    assert result.result_code == "TemporaryFailure"
    assert "import history" in result.result_string
    history_stubber.assert_no_pending_responses()


# ------------------------------------------------------------------------------------- real connection errors
@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local TCP server that accepts connections and never answers (a hung endpoint)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    listener.close()


def _client_at(port: int) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=0.5, read_timeout=0.3)
    return boto3.client("s3", region_name=REGION, endpoint_url=f"http://127.0.0.1:{port}", config=config)


def test_a_read_timeout_is_temporary(silent_server):
    s3 = _client_at(silent_server)
    result = _qualifier(s3, sqs=None).qualify(make_task("a.png"))
    assert result.result_code == "TemporaryFailure"
    assert result.result_string == "retry:s3:GetObjectTagging: ReadTimeoutError"


def test_a_refused_connection_is_temporary():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port any more
    result = _qualifier(_client_at(port), sqs=None).qualify(make_task("a.png"))
    assert result.result_code == "TemporaryFailure"
    assert result.result_string == "retry:s3:GetObjectTagging: EndpointConnectionError"


# ------------------------------------------------------------------------------------- custom provider errors
class _RaisingProvider:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_registration_data(self, task):
        raise self.error


def test_a_provider_raising_a_raw_throttling_error_is_temporary():
    from botocore.exceptions import ClientError

    error = ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "slow"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "GetItem",
    )
    result = _qualifier(s3=None, sqs=None, provider=_RaisingProvider(error)).qualify(make_task("a.png"))
    assert result.result_code == "TemporaryFailure"
    assert result.result_string.startswith("retry:registration provider: ThrottlingException")


def test_a_provider_bug_fails_the_task_not_the_invocation():
    result = _qualifier(s3=None, sqs=None, provider=_RaisingProvider(KeyError("oops"))).qualify(
        make_task("a.png")
    )
    assert (result.result_code, result.outcome) == ("PermanentFailure", "error")
    assert result.result_string == "error:internal: KeyError: 'oops'"


def test_a_provider_returning_garbage_fails_the_task():
    class Garbage:
        def get_registration_data(self, task):
            return {"user_id": "alice"}

    result = _qualifier(s3=None, sqs=None, provider=Garbage()).qualify(make_task("a.png"))
    assert result.result_code == "PermanentFailure"
    assert "registration provider returned dict" in result.result_string


def test_a_provider_skip_needs_no_aws_call():
    class Skipper:
        def get_registration_data(self, task):
            return Skip("not-mine")

    result = _qualifier(s3=None, sqs=None, provider=Skipper()).qualify(make_task("a.png"))
    assert (result.result_code, result.result_string) == ("Succeeded", "skipped:not-mine")


@pytest.mark.parametrize("text", ["a" * 5000, "é" * 3000, "😀" * 1000])
def test_result_strings_are_clipped_to_1_kb_of_utf8(text):
    clipped = clip_result_string(text)
    assert len(clipped.encode("utf-8")) <= RESULT_STRING_MAX_BYTES
    assert clipped.endswith("...")
    assert text.startswith(clipped[:-3])
