"""What a signed AWS request is: its service, region and access key (SigV4 scope), its API operation name (for
counting and for naming denials), its IAM action, and the DynamoDB tables it touches."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


def credential_scope(headers: dict[str, str], query: dict[str, list[str]]) -> tuple[str, str, str]:
    """(service, region, access key) from the SigV4 Authorization header or a presigned URL."""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    match = _CREDENTIAL.search(authorization)
    if match:
        return match.group(4), match.group(3), match.group(1)
    credential = (query.get("X-Amz-Credential") or [""])[0]
    parts = unquote(credential).split("/")
    if len(parts) == 5:
        return parts[3], parts[2], parts[0]
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target") or ""
    return (target.split(".")[0].lower() or "unknown"), "", ""


_S3_SUBRESOURCES = (
    "tagging", "acl", "policy", "versioning", "notification", "lifecycle", "encryption", "inventory",
    "uploads", "uploadId", "versions", "location", "publicAccessBlock", "ownershipControls", "delete",
    "list-type",
)  # fmt: skip


def operation_name(
    service: str,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes | None,
) -> str:
    """The API operation name of a request (for counting and for naming denials)."""
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    if target:
        return target.split(".")[-1]
    if body and (headers.get("Content-Type") or headers.get("content-type") or "").startswith(
        "application/x-www-form-urlencoded"
    ):
        action = parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return action[0]
    if "Action" in query:
        return query["Action"][0]
    if service == "lambda":
        if path.endswith("/invocations"):
            return "Invoke"
        return f"{method} {re.sub(r'/functions/[^/]+', '/functions/{name}', path)}"
    if service == "s3control":
        if "/jobs" in path:
            listing = path.rstrip("/").endswith("/jobs")
            if method == "POST":
                return "CreateJob" if listing else "UpdateJobStatus"
            return "ListJobs" if listing else "DescribeJob"
        return f"{method} {path.split('/')[2] if path.count('/') > 1 else path}"
    if service == "s3":
        return _s3_operation(method, path, query, headers)
    return f"{method} {path}"


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    if path in ("", "/"):
        return "ListBuckets"
    has_key = len(path.strip("/").split("/", 1)) > 1
    sub = next((s for s in _S3_SUBRESOURCES if s in query), "")
    if sub == "tagging":
        return (
            {"GET": "GetObjectTagging", "PUT": "PutObjectTagging", "DELETE": "DeleteObjectTagging"}[method]
            if has_key
            else f"{method.title()}BucketTagging"
        )
    if sub == "delete":
        return "DeleteObjects"
    if sub in ("uploads", "uploadId"):
        return {
            "POST": "CreateMultipartUpload" if sub == "uploads" else "CompleteMultipartUpload",
            "PUT": "UploadPart",
            "DELETE": "AbortMultipartUpload",
            "GET": "ListParts",
        }.get(method, method)
    if sub in ("list-type", "versions") or (not has_key and method == "GET" and not sub):
        return (
            "ListObjectVersions"
            if sub == "versions"
            else "ListObjectsV2"
            if sub == "list-type"
            else "ListObjects"
        )
    if sub:
        return f"{method.title()}Bucket{sub[0].upper()}{sub[1:]}"
    if not has_key:
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
            method, f"{method} bucket"
        )
    if method == "PUT" and ("x-amz-copy-source" in headers or "X-Amz-Copy-Source" in headers):
        return "CopyObject"
    return {
        "GET": "GetObject",
        "PUT": "PutObject",
        "DELETE": "DeleteObject",
        "HEAD": "HeadObject",
        "POST": "PostObject",
    }.get(method, method)


def dynamodb_resources(body: bytes, region: str, account: str) -> list[str]:
    """The table (or index) ARNs a DynamoDB request touches."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return []
    if not isinstance(request, dict):
        return []
    names = []
    if request.get("TableName"):
        table = request["TableName"]
        if table.startswith("arn:"):
            table = table.split("/", 1)[1]
        names.append(f"{table}/index/{request['IndexName']}" if request.get("IndexName") else table)
    names.extend((request.get("RequestItems") or {}).keys())
    for item in request.get("TransactItems") or []:
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("TableName"):
                names.append(operation["TableName"])
    return [f"arn:aws:dynamodb:{region}:{account}:table/{name}" for name in dict.fromkeys(names)]


def iam_action(service: str, action: str) -> str:
    prefix = {"s3control": "s3", "monitoring": "cloudwatch", "email": "ses"}.get(service, service)
    return f"{prefix}:{action}"
