"""The AWS emulator: a moto server in this process, bound to 127.0.0.1 on a free port.

It runs in-process on purpose: the event delivery (offline/aws/events/) hooks moto's S3 and SNS backends.
"""

from __future__ import annotations

import functools
import logging
import threading
import urllib.request

from moto.core.utils import unix_time
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase
from moto.server import ThreadedMotoServer
from moto.sqs.models import Message, SQSBackend

# moto's default account; every ARN the offline runtime builds uses it.
ACCOUNT_ID = "123456789012"
_ORIGINAL_MATCHES = IAMPolicyStatement._check_element_matches
_ORIGINAL_CHECK = IAMRequestBase.check_action_permitted
_IAM_ACTION_FOR = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _patch_resource_matching() -> None:
    """Align moto's authorization with IAM's where it differs.

    Resources: moto judges requests whose resource it cannot name by their action alone.

    moto names the resource of S3, SQS, IAM and STS requests; for the other services (DynamoDB, ...) it checks
    the resource "*" against the statement's resources, so every least-privilege statement (a table ARN) would
    deny. With this patch such requests are authorized by action, and the front door checks the resource where
    it can name it (DynamoDB tables and indexes: offline/aws/front_door.py).
    Actions: SQS batch calls are authorized with the single call's action, as IAM does.
    """

    def matches(statement: IAMPolicyStatement, element: str, value: str) -> bool:
        if element in ("Resource", "NotResource") and value == "*":
            return element == "Resource"
        return _ORIGINAL_MATCHES(statement, element, value)

    IAMPolicyStatement._check_element_matches = matches  # type: ignore[method-assign]

    def check_action_permitted(request: IAMRequestBase, resource: str) -> None:
        # IAM authorizes SQS batch calls with the single call's action (sqs:DeleteMessage for
        # DeleteMessageBatch); moto asks for an action that does not exist in IAM.
        request._action = _IAM_ACTION_FOR.get(request._action, request._action)
        _ORIGINAL_CHECK(request, resource)

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


_ORIGINAL_DYNAMODB_CALL = DynamoHandler.call_action
_DYNAMODB_LOCK = threading.Lock()


def _patch_dynamodb_atomicity() -> None:
    """One DynamoDB request at a time in moto.

    DynamoDB applies a conditional write to an item atomically; moto's threaded server checks the condition
    and then writes, so two concurrent writers could both pass (the qualifier's `record_queued` undid the
    indexer's claim on the same new item). Serialising moto's DynamoDB requests restores per-item atomicity.
    """

    @functools.wraps(_ORIGINAL_DYNAMODB_CALL)
    def call_action(self: DynamoHandler):  # type: ignore[no-untyped-def]
        with _DYNAMODB_LOCK:
            return _ORIGINAL_DYNAMODB_CALL(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


_ORIGINAL_RETENTION_CHECK = SQSBackend.is_message_valid_based_on_retention_period


def _patch_sqs_retention_check() -> None:
    """A receive that costs what the queue's backlog costs, not its square.

    moto 5.2.5 checks each message a ReceiveMessage considers against the queue's MessageRetentionPeriod
    by building every queue attribute, and the message counts among them scan all the queue's messages: a
    receive from a queue of n messages costs n scans of n. With the 500-700 messages an import backlogs,
    that took most of the emulator's CPU while S3 Batch was finishing (py-spy; docs/offline-runtime.md,
    "Third measurement") and slowed the indexer the benchmarks measure. The retention period is read from
    the queue instead: the same value, so the same answer.
    """

    def is_valid(backend: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_period = backend.get_queue(queue_name).message_retention_period
        return retention_period + message.sent_timestamp / 1000 > unix_time()  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = is_valid  # type: ignore[method-assign]


def _unpatch_sqs_retention_check() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = _ORIGINAL_RETENTION_CHECK  # type: ignore[method-assign]


def _unpatch_dynamodb_atomicity() -> None:
    DynamoHandler.call_action = _ORIGINAL_DYNAMODB_CALL  # type: ignore[method-assign]


def _unpatch_resource_matching() -> None:
    IAMPolicyStatement._check_element_matches = _ORIGINAL_MATCHES  # type: ignore[method-assign]
    IAMRequestBase.check_action_permitted = _ORIGINAL_CHECK  # type: ignore[method-assign]


class MotoServer:
    """Start/stop a ThreadedMotoServer and switch IAM enforcement on."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.endpoint: str | None = None

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("moto server already started")
        # werkzeug logs every request at INFO: far too loud for a demo.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _patch_dynamodb_atomicity()
        _patch_sqs_retention_check()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._post("/moto-api/reset", b"")
        return self.endpoint

    def enable_iam(self) -> None:
        """From now on moto authenticates and authorizes every request (unknown keys and denials fail)."""
        _patch_resource_matching()
        self._post("/moto-api/reset-auth", b"0")

    def disable_iam(self) -> None:
        self._post("/moto-api/reset-auth", b"inf")

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.disable_iam()
            _unpatch_resource_matching()
        finally:
            _unpatch_dynamodb_atomicity()
            _unpatch_sqs_retention_check()
            self._server.stop()
            self._server = None
            self.endpoint = None

    def _post(self, path: str, body: bytes) -> None:
        if self.endpoint is None:
            raise RuntimeError("moto server not started")
        # text/plain: a form content type would make Flask swallow the body moto reads.
        request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 endpoint)
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
