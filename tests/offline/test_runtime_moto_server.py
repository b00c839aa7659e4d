"""The moto server's lifecycle: local only, port 0, clean stop, IAM enforcement switch."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.aws.moto_server import MotoServer


def _client(endpoint: str, key: str = "anything"):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="x",
    )


def test_starts_on_a_free_local_port_and_stops_cleanly():
    server = MotoServer()
    endpoint = server.start()
    try:
        parts = urlsplit(endpoint)
        assert parts.hostname == "127.0.0.1"
        assert parts.port and parts.port > 0
        _client(endpoint).create_queue(QueueName="lifecycle")
        assert any(u.endswith("/lifecycle") for u in _client(endpoint).list_queues()["QueueUrls"])
    finally:
        server.stop()
    assert server.endpoint is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", parts.port), timeout=1):
        pass


def test_a_new_server_starts_from_empty_backends():
    first = MotoServer()
    endpoint = first.start()
    _client(endpoint).create_queue(QueueName="left-over")
    first.stop()
    second = MotoServer()
    endpoint = second.start()
    try:
        assert "QueueUrls" not in _client(endpoint).list_queues()
    finally:
        second.stop()


def test_enable_iam_rejects_unknown_credentials_and_disable_lifts_it():
    server = MotoServer()
    endpoint = server.start()
    try:
        server.enable_iam()
        with pytest.raises(ClientError) as error:
            _client(endpoint, key="AKIAUNKNOWN000000000").list_queues()
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        server.disable_iam()
        _client(endpoint, key="AKIAUNKNOWN000000000").list_queues()
    finally:
        server.stop()


def test_a_receive_does_not_rebuild_the_queue_attributes_per_message(monkeypatch):
    """moto's own retention check built every queue attribute (a scan of all messages) per message
    received: quadratic in the backlog. The patched check reads the retention period, and still drops
    expired messages."""
    from moto.sqs.models import Queue

    built = [0]
    original = Queue.attributes

    def counting(queue):
        built[0] += 1
        return original.fget(queue)

    server = MotoServer()
    endpoint = server.start()
    try:
        sqs = _client(endpoint)
        url = sqs.create_queue(QueueName="backlog", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for n in range(50):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        monkeypatch.setattr(Queue, "attributes", property(counting))
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(received) == 10
        assert built[0] == 0
        monkeypatch.setattr("moto.sqs.models.unix_time", lambda: 10**10)  # far past the retention period
        monkeypatch.setattr("offline.aws.moto_server.unix_time", lambda: 10**10)
        assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    finally:
        server.stop()
