"""Task outcomes and how AWS errors map onto S3 Batch result codes.

S3 Batch retries `TemporaryFailure` tasks and reports `PermanentFailure` ones in the job's completion report,
so an error either must be retryable (throttling, 5xx, timeouts) or must say what a person has to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

ResultCode = Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]
FailureKind = Literal["temporary", "missing", "denied", "error"]

# S3 Batch truncates the result string in its report; keep ours well inside 1 KB (UTF-8 bytes).
RESULT_STRING_MAX_BYTES = 1024

THROTTLING_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
    }
)
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "NotFound", "404"})
# GetObject on a delete marker answers 405 MethodNotAllowed: the version asked for is a deletion.
DELETE_MARKER_CODES = frozenset({"MethodNotAllowed"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden", "KmsAccessDenied"})
# Connection errors and timeouts (after the client's own retries); other botocore errors are bugs.
TRANSIENT_BOTO_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


class TaskFailure(Exception):
    """An AWS call failed in a way that decides the task's result; `kind` says which way."""

    def __init__(self, kind: FailureKind, action: str, detail: str) -> None:
        super().__init__(f"{kind}: {action}: {detail}")
        self.kind = kind
        self.action = action
        self.detail = detail

    @property
    def result_code(self) -> ResultCode:
        return "TemporaryFailure" if self.kind == "temporary" else "PermanentFailure"

    @property
    def result_string(self) -> str:
        if self.kind == "temporary":
            return f"retry:{self.action}: {self.detail}"
        if self.kind == "missing":
            return f"missing: {self.action}: {self.detail}"
        if self.kind == "denied":
            # S3 answers 403 instead of 404 for a missing object when the caller may not s3:ListBucket.
            return (
                f"error:access-denied: {self.action} was denied ({self.detail}); grant it to the "
                "qualifier's role (a missing object also answers 403 without s3:ListBucket)"
            )
        return f"error:{self.action}: {self.detail}"


def classify_client_error(action: str, exc: ClientError) -> TaskFailure:
    """Map a botocore ClientError from `action` (e.g. `s3:GetObjectTagging`) onto a TaskFailure."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = f"{code or status}: {error.get('Message', '')}".rstrip(": ")
    if code in THROTTLING_CODES or "Throttl" in code or status == 503 or status >= 500:
        return TaskFailure("temporary", action, detail)
    if code in MISSING_CODES or status == 404:
        return TaskFailure("missing", action, detail)
    if code in DELETE_MARKER_CODES or status == 405:
        return TaskFailure("missing", action, f"{detail} (a delete marker)")
    if code in DENIED_CODES or (status == 403 and not code):
        return TaskFailure("denied", action, code or str(status))
    return TaskFailure("error", action, detail)


T = TypeVar("T")


def aws_call(action: str, call: Callable[..., T], /, **kwargs: object) -> T:
    """Run one AWS call, turning its failures into TaskFailure named after `action`."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        raise classify_client_error(action, exc) from exc
    except TRANSIENT_BOTO_ERRORS as exc:
        # S3 Batch retries the task.
        raise TaskFailure("temporary", action, type(exc).__name__) from exc


def clip_result_string(text: str, limit: int = RESULT_STRING_MAX_BYTES) -> str:
    """Cut `text` to at most `limit` UTF-8 bytes without splitting a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."
