"""`bulk-loader redrive`: put what was given up on back to work.

- The indexer's DLQ -> its input queue, and the qualifier's tag-events DLQ -> the tag-events queue, the same
  way. SQS's own message move task (StartMessageMoveTask) where it applies: the SQS API Reference limits it to
  a queue that is the dead-letter queue of other SQS queues (the DLQ's source queue is listed by
  ListDeadLetterSourceQueues) and one active task per queue. Otherwise (another destination, an endpoint
  without the API such as the offline runtime's moto) receive + re-send: the body and every message attribute
  are kept (the indexer's delivery count and first-send time among them, as the move task keeps them), and a
  message is deleted from the DLQ only after its copy was sent: nothing is lost, a duplicate is possible and
  harmless (the indexer is idempotent; re-qualifying an object for a tag event is too).
- Failed asynchronous invocations of the inventory function (its on-failure destination queue): each record
  holds the original event (`requestPayload`), which is invoked again asynchronously; the record is deleted
  once Lambda accepted the invocation.
`--dry-run` counts and shows what would move, changing nothing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .errors import EXIT_FAILED, EXIT_OK, UsageError
from .handler_code import MessageError, TagEventError, parse_message, parse_tag_event
from .render import key_values

if TYPE_CHECKING:
    from .main import Context

# SQS ReceiveMessage returns at most 10 messages; StartMessageMoveTask moves at most 500 per second.
RECEIVE_BATCH = 10
MAX_MOVE_RATE = 500
DRY_RUN_SAMPLE = 10
# How long a received message stays hidden while its copy is sent (it reappears if this command dies).
RECEIVE_VISIBILITY_SECONDS = 120
# Codes meaning "no message move task for this queue here" (e.g. a FIFO DLQ where redrive is unsupported).
_NO_MOVE_TASK = {"InvalidAction", "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation"}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "redrive",
        parents=[common],
        help="DLQ messages back to their queue; failed inventory invocations again",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--dlq", action="store_true", help="only the indexer's DLQ")
    which.add_argument("--inventory", action="store_true", help="only failed inventory invocations")
    which.add_argument(
        "--tag-events", action="store_true", help="only the tag-events DLQ (back to the tag-events queue)"
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would move, change nothing")
    parser.add_argument(
        "--method",
        choices=("auto", "move-task", "resend"),
        default="auto",
        help="DLQs: auto (default) = SQS's message move task when the DLQ is its queue's and no "
        "--max-messages / --endpoint-url is given, else receive + re-send; or force one of them",
    )
    parser.add_argument("--max-messages", type=int, default=0, help="move at most this many (0: all)")
    parser.add_argument(
        "--rate", type=int, help=f"move task: messages per second (1-{MAX_MOVE_RATE}; default: SQS's choice)"
    )
    parser.set_defaults(run=run)


@dataclass
class Result:
    source: str
    method: str
    waiting: int | None = None
    moved: int = 0
    failed: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    task_handle: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "method": self.method,
            "waiting": self.waiting,
            "moved": self.moved,
            "failed": self.failed,
            "sample": self.sample,
            "task_handle": self.task_handle,
        }


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.max_messages < 0:
        raise UsageError("--max-messages must be 0 (all) or more")
    if args.rate is not None and not 1 <= args.rate <= MAX_MOVE_RATE:
        raise UsageError(f"--rate must be between 1 and {MAX_MOVE_RATE} (StartMessageMoveTask's limit)")
    # Without --dlq / --inventory / --tag-events: each part the stack has (a stack without the pipeline
    # has no inventory failures), checked before anything moves; a part asked for by flag must exist (or
    # exit 2).
    chosen = args.dlq or args.inventory or args.tag_events
    dlq = args.dlq or (not chosen and ctx.stack.get(INDEXER_DLQ.dlq_output) is not None)
    inventory = args.inventory or (not chosen and ctx.stack.get("inventory_failure_queue_url") is not None)
    tag_events = args.tag_events or (not chosen and ctx.stack.get(TAG_EVENTS_DLQ.dlq_output) is not None)
    if not (dlq or inventory or tag_events):
        ctx.stack.require(INDEXER_DLQ.dlq_output, "redrive")
    results = []
    if dlq:
        results.append(redrive_dlq(ctx, args, INDEXER_DLQ))
    if inventory:
        results.append(redrive_inventory(ctx, args))
    if tag_events:
        results.append(redrive_dlq(ctx, args, TAG_EVENTS_DLQ))
    if ctx.printer.as_json:
        ctx.printer.json({"dry_run": args.dry_run, "results": [r.as_dict() for r in results]})
    else:
        for result in results:
            _show(ctx, result, args.dry_run)
    return EXIT_FAILED if any(r.failed for r in results) else EXIT_OK


# ------------------------------------------------------------------------------------------- the DLQs
@dataclass(frozen=True)
class DeadLetters:
    """A dead-letter queue and the queue its messages go back to (stack output names), and how a dry run
    describes one of its messages."""

    source: str
    """The result's name (`--json` "source")."""
    dlq_output: str
    queue_output: str
    describe: Callable[[dict[str, Any]], dict[str, Any]]


def redrive_dlq(ctx: Context, args: argparse.Namespace, route: DeadLetters) -> Result:
    sqs = ctx.aws.client("sqs")
    dlq_url = ctx.stack.require(route.dlq_output, "redrive")
    queue_url = ctx.stack.require(route.queue_output, "redrive")
    result = Result(route.source, "dry-run" if args.dry_run else args.method, waiting=_depth(sqs, dlq_url))
    if args.dry_run:
        result.sample = [route.describe(m) for m in _peek(sqs, dlq_url)]
        return result
    if args.method == "move-task" or (args.method == "auto" and _move_task_applies(ctx, args, result)):
        if _start_move_task(sqs, dlq_url, queue_url, args, result):
            return result
        if args.method == "move-task":
            result.failed.append("StartMessageMoveTask does not apply to this DLQ (see the note above)")
            return result
    result.method = "resend"
    _resend(sqs, dlq_url, queue_url, args.max_messages, result)
    return result


def _move_task_applies(ctx: Context, args: argparse.Namespace, result: Result) -> bool:
    """auto: the move task moves everything at SQS's pace; a count limit, or a custom endpoint (the offline
    runtime's moto has no StartMessageMoveTask), means re-sending."""
    if args.max_messages:
        return False
    if ctx.aws.endpoint_url:
        result.sample.append({"note": "custom endpoint: re-sending (no message move task assumed there)"})
        return False
    return True


def _start_move_task(
    sqs: Any, dlq_url: str, queue_url: str, args: argparse.Namespace, result: Result
) -> bool:
    """StartMessageMoveTask to `queue_url` when the DLQ is that queue's DLQ; False: not applicable."""
    try:
        sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    except ClientError as exc:
        if _code(exc) not in _NO_MOVE_TASK:
            raise
        sources = []
    if queue_url not in sources:
        result.sample.append({"note": "the DLQ is not its queue's dead-letter queue: re-sending instead"})
        return False
    request: dict[str, Any] = {"SourceArn": _arn(sqs, dlq_url), "DestinationArn": _arn(sqs, queue_url)}
    if args.rate:
        request["MaxNumberOfMessagesPerSecond"] = args.rate
    try:
        result.task_handle = sqs.start_message_move_task(**request)["TaskHandle"]
    except ClientError as exc:
        if _code(exc) not in _NO_MOVE_TASK:
            raise  # e.g. a move task already running on this DLQ: the operator must know
        result.sample.append({"note": f"StartMessageMoveTask unavailable here ({_code(exc)}): re-sending"})
        return False
    result.method = "move-task"
    result.moved = result.waiting or 0
    return True


def _resend(sqs: Any, dlq_url: str, queue_url: str, limit: int, result: Result) -> None:
    for messages in _batches(sqs, dlq_url, limit, result):
        for message in messages:
            try:
                sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=message["Body"],
                    **_attributes_for_send(message.get("MessageAttributes")),
                )
            except ClientError as exc:
                # Left in the DLQ: it reappears there after the visibility timeout.
                result.failed.append(f"message {message['MessageId']}: SendMessage: {_code(exc)}")
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            result.moved += 1


def _batches(sqs: Any, queue_url: str, limit: int, result: Result) -> Iterator[list[dict[str, Any]]]:
    """Receive batches until the queue answers none or `limit` (0: none) messages were handled. A received
    message stays hidden for the rest of the run, so one that could not be moved is not received twice."""
    while not limit or result.moved + len(result.failed) < limit:
        want = RECEIVE_BATCH if not limit else min(RECEIVE_BATCH, limit - result.moved - len(result.failed))
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=want,
            MessageAttributeNames=["All"],
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not messages:
            return
        yield messages


def _attributes_for_send(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """ReceiveMessage's MessageAttributes as SendMessage takes them (the list forms are reserved by SQS)."""
    if not attributes:
        return {}
    kept = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in attributes.items()
    }
    return {"MessageAttributes": kept}


def _peek(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Up to DRY_RUN_SAMPLE messages, visible again at once (VisibilityTimeout 0): a dry run moves nothing."""
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=DRY_RUN_SAMPLE,
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,
    ).get("Messages", [])


def _describe_message(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("MessageAttributes") or {}
    facts: dict[str, Any] = {"message_id": message.get("MessageId")}
    try:
        parsed = parse_message(message.get("Body", ""))
    except MessageError as exc:
        facts["unparseable"] = str(exc)[:200]
    else:
        facts.update(type=parsed.type, object=f"s3://{parsed.object.bucket}/{parsed.object.key}")
        facts["user_id"] = getattr(parsed, "user_id", None)
        facts["run_id"] = getattr(parsed, "run_id", None)
    if "indexer-error" in attributes:
        facts["error"] = attributes["indexer-error"].get("StringValue")
    return facts


def _describe_tag_event(message: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge S3 tag event, read by the qualifier's own parser (a message it refused says why)."""
    facts: dict[str, Any] = {"message_id": message.get("MessageId")}
    try:
        event = parse_tag_event(message.get("Body", ""))
    except TagEventError as exc:
        facts["unparseable"] = str(exc)[:200]
    else:
        facts.update(
            type=event.detail_type,
            object=f"s3://{event.bucket}/{event.keys[0]}",
            version_id=event.version_id,
            event_time=event.time,
        )
    return facts


INDEXER_DLQ = DeadLetters("dlq", "dlq_url", "queue_url", _describe_message)
TAG_EVENTS_DLQ = DeadLetters(
    "tag-events-dlq", "tag_events_dlq_url", "tag_events_queue_url", _describe_tag_event
)


# ------------------------------------------------------------------------------ failed inventory invocations
def redrive_inventory(ctx: Context, args: argparse.Namespace) -> Result:
    sqs = ctx.aws.client("sqs")
    queue_url = ctx.stack.require("inventory_failure_queue_url", "redrive")
    function_name = ctx.stack.require("inventory_function_name", "redrive")
    result = Result(
        "inventory-failures", "dry-run" if args.dry_run else "invoke", waiting=_depth(sqs, queue_url)
    )
    if args.dry_run:
        result.sample = [_describe_invocation(m) for m in _peek(sqs, queue_url)]
        return result
    lambda_client = ctx.aws.client("lambda")
    for messages in _batches(sqs, queue_url, args.max_messages, result):
        for message in messages:
            payload = _request_payload(message)
            if payload is None:
                result.failed.append(
                    f"record {message['MessageId']} holds no requestPayload: left in the queue"
                )
                continue
            answer = lambda_client.invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps(payload).encode("utf-8"),
            )
            if answer.get("StatusCode") != 202:
                result.failed.append(
                    f"record {message['MessageId']}: Invoke answered {answer.get('StatusCode')}"
                )
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.moved += 1
    return result


def _request_payload(message: dict[str, Any]) -> Any | None:
    try:
        record = json.loads(message.get("Body", ""))
    except ValueError:
        return None
    return record.get("requestPayload") if isinstance(record, dict) else None


def _describe_invocation(message: dict[str, Any]) -> dict[str, Any]:
    try:
        record = json.loads(message.get("Body", ""))
    except ValueError:
        return {"message_id": message.get("MessageId"), "unparseable": message.get("Body", "")[:200]}
    response = record.get("responsePayload") or {}
    return {
        "message_id": message.get("MessageId"),
        "failed_at": record.get("timestamp"),
        "condition": (record.get("requestContext") or {}).get("condition"),
        "error": response.get("errorMessage") if isinstance(response, dict) else str(response)[:200],
        "event": json.dumps(record.get("requestPayload"))[:200],
    }


# ------------------------------------------------------------------------------------------- shared
def _depth(sqs: Any, queue_url: str) -> int:
    answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(answer["Attributes"].get("ApproximateNumberOfMessages", 0))


def _arn(sqs: Any, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _show(ctx: Context, result: Result, dry_run: bool) -> None:
    printer = ctx.printer
    verb = "would move" if dry_run else "moved"
    moved: Any = result.moved
    if dry_run:
        moved = result.waiting
    elif result.task_handle:
        moved = "all waiting (the move task runs in SQS)"
    printer.line(f"== {result.source}")
    printer.line(key_values([("method", result.method), ("waiting", result.waiting), (verb, moved)]))
    if result.task_handle:
        printer.line(
            f"move task {result.task_handle} (aws sqs list-message-move-tasks --source-arn <DLQ ARN>)"
        )
    for item in result.sample:
        printer.line("  " + ", ".join(f"{k}={v}" for k, v in item.items() if v is not None))
    for failure in result.failed:
        printer.line(f"FAILED: {failure}")
