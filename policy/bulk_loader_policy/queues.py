"""Queue reliability: a dead-letter queue for every queue that is consumed, a visibility timeout that covers
its consumer."""

from __future__ import annotations

import json
from collections.abc import Iterator

from . import aws_types as t
from .model import UNKNOWN, Resource, Stack, Violation, is_known

# Lambda Developer Guide, "Creating and configuring an Amazon SQS event source mapping": set the source
# queue's visibility timeout to at least six times the function's timeout, so Lambda can retry a throttled
# batch before the messages become visible again.
VISIBILITY_TIMEOUT_FACTOR = 6
SQS_DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30  # CreateQueue's VisibilityTimeout default
LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3  # CreateFunction's Timeout default

# Where a queue is used as a dead-letter sink (it holds what failed elsewhere; a DLQ of its own would only
# move the same messages once more): the property of each resource type that names the sink.
DEAD_LETTER_PROPS = {
    t.QUEUE: "redrivePolicy",
    "aws:sns/topicSubscription:TopicSubscription": "redrivePolicy",
    t.FUNCTION: "deadLetterConfig",
    # onFailure destinations (an onSuccess queue is counted too: it receives no retries either).
    t.FUNCTION_EVENT_INVOKE_CONFIG: "destinationConfig",
    t.EVENT_SOURCE_MAPPING: "destinationConfig",
    "aws:cloudwatch/eventTarget:EventTarget": "deadLetterConfig",
}


def _is_dead_letter_sink(stack: Stack, queue: Resource) -> bool:
    return any(stack.referrers(queue, prop, typ) for typ, prop in DEAD_LETTER_PROPS.items())


def _redrive_problem(queue: Resource) -> str | None:
    redrive = queue.get("redrivePolicy")
    if redrive is None:
        return "has no dead-letter queue: set redrivePolicy {deadLetterTargetArn, maxReceiveCount}"
    if redrive is UNKNOWN:
        return None
    if isinstance(redrive, str):
        try:
            redrive = json.loads(redrive)
        except json.JSONDecodeError:
            return f"redrivePolicy is not valid JSON: {redrive!r}"
    if not isinstance(redrive, dict):
        return f"redrivePolicy is not a JSON object: {redrive!r}"
    missing = [key for key in ("deadLetterTargetArn", "maxReceiveCount") if redrive.get(key) in (None, "")]
    if missing:
        return f"redrivePolicy lacks {', '.join(missing)}"
    return None


def check_dead_letter_queues(stack: Stack) -> Iterator[Violation]:
    """Every queue that is not itself a dead-letter sink moves repeatedly failing messages to a DLQ."""
    for queue in stack.of_type(t.QUEUE):
        if _is_dead_letter_sink(stack, queue):
            continue
        problem = _redrive_problem(queue)
        if problem:
            yield Violation(queue, f"{queue.label} {problem}")


def check_visibility_covers_consumer(stack: Stack) -> Iterator[Violation]:
    """Each queue that feeds a function through an event source mapping has a visibility timeout of at least
    6x that function's timeout."""
    for mapping in stack.of_type(t.EVENT_SOURCE_MAPPING):
        for queue in stack.referenced(mapping, "eventSourceArn", t.QUEUE):
            visibility = queue.get("visibilityTimeoutSeconds", default=SQS_DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
            for function in stack.referenced(mapping, "functionName", t.FUNCTION):
                timeout = function.get("timeout", default=LAMBDA_DEFAULT_TIMEOUT_SECONDS)
                if not (is_known(visibility) and is_known(timeout)):
                    continue
                needed = VISIBILITY_TIMEOUT_FACTOR * timeout
                if visibility < needed:
                    yield Violation(
                        queue,
                        f"{queue.label}: visibilityTimeoutSeconds {visibility:g} is below "
                        f"{VISIBILITY_TIMEOUT_FACTOR}x the timeout of its consumer {function.label} "
                        f"({timeout:g} s): set it to at least {needed:g}",
                    )
