"""A stand-in for the Lambda context object: the attributes the handlers and Powertools read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

ACCOUNT = "123456789012"


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def context_factory(
    function_name: str, *, memory_mb: int = 256, arn: str | None = None, request_id: str = "req-1"
) -> Callable[[], LambdaContext]:
    """`FakeContext()` for one function's tests: a fresh context per call."""
    return partial(
        LambdaContext,
        function_name,
        memory_mb,
        arn or f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}",
        request_id,
    )
