"""The soak's end checks, read from the emulator's state (S3, the import history, the gateway's registry, the
DLQ), never from what the fault injector believes it did.

`collect_state` reads that state from a running OfflineRuntime; `find_problems` turns a `SoakState` into
problems (check name, object key, detail) and `run_checks` into one pass/fail `Check` per rule, so the rules
can be tested on planted states (tests/offline/test_soak_checks.py) as offline/demo/report.py's are.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from handlers.common.contracts import DeleteMessage, ImportMessage, MessageError, parse_message
from handlers.common.history import DELETE_EVENTS_SK
from handlers.common.history_schema import object_pk
from handlers.throttled_indexer.rekognition_gateway import external_image_id
from offline.demo.report import Check, read_completion_report
from offline.gateways.limits import Registration, Registry

SETTLED = ("indexed", "deleted", "skipped", "invalid", "failed")
# Statuses a DLQ message's object may hold: the indexer records why before the redrive moves the message.
FAILURE_STATUSES = ("failed", "invalid")

EVERY_OBJECT = "every object indexed or with a recorded reason"
NOT_TWICE = "no face registered twice"
NO_DELETED_FACE = "no face of a deleted object left"
DLQ_EXPLAINED = "DLQ contents explained"
NO_DENIAL = "no access denied"
CHECK_NAMES = (EVERY_OBJECT, NOT_TWICE, NO_DELETED_FACE, DLQ_EXPLAINED, NO_DENIAL)


@dataclass
class ObjectState:
    """One key of the image bucket, as S3 holds it at the end."""

    key: str
    fingerprints: set[str] = field(default_factory=set)
    """SHA-256 of the bytes of every version the key has had."""
    deleted: bool = False
    """The key's current version is a delete marker (or it has none)."""
    user_ids: set[str] = field(default_factory=set)
    """The UserId tags of its versions: the same bytes may be registered once per user."""


@dataclass
class VersionRecord:
    """One import-history record (one object version)."""

    key: str
    version_id: str | None
    status: str
    reason: str = ""
    registration_ids: tuple[str, ...] = ()
    """Face ids (Rekognition) or the image id (HTTP API) the record says are registered."""


@dataclass
class SoakState:
    objects: dict[str, ObjectState]
    records: dict[str, list[VersionRecord]]
    """By key; every version record of the key."""
    delete_failures: dict[str, str]
    """Key -> the reason a delete event was given up (the key's delete-events item)."""
    report_rows: dict[str, tuple[str, str]]
    """Key -> (task status, result string) from the S3 Batch completion reports."""
    registry: Registry
    dlq_bodies: list[str]
    access_denied: list[dict[str, Any]] = field(default_factory=list)
    bucket: str = ""
    """The image bucket (registrations' S3 sources name it)."""

    def key_of(self) -> Callable[[Registration], str | None]:
        """The object a registration is of: its S3 source (Rekognition), else its (user, image SHA-256),
        the identity the gateways register under (the user id as sent, or Rekognition's ExternalImageId)."""
        by_identity = {
            (user, fp): obj.key
            for obj in self.objects.values()
            for user_id in obj.user_ids
            for user in {user_id, external_image_id(user_id)}
            for fp in obj.fingerprints
        }
        prefix = f"{self.bucket}/"

        def key_of(registration: Registration) -> str | None:
            source = registration.source or ""
            if self.bucket and source.startswith(prefix):
                return source.removeprefix(prefix).rsplit("#", 1)[0]
            return by_identity.get((registration.user_id, registration.fingerprint))

        return key_of


@dataclass(frozen=True)
class Problem:
    check: str
    key: str | None
    """The object it is about; None for one that names no object (an unparseable DLQ message)."""
    detail: str


def find_problems(state: SoakState) -> list[Problem]:
    problems: list[Problem] = []
    problems += _unsettled(state)
    problems += _registered_twice(state)
    problems += _faces_of_deleted(state)
    problems += _unexplained_dlq(state)
    problems += [
        Problem(NO_DENIAL, None, f"{d.get('caller')} {d.get('action')} on {d.get('resource')}")
        for d in state.access_denied
    ]
    return problems


def run_checks(state: SoakState, problems: list[Problem] | None = None) -> list[Check]:
    """One Check per rule (all of CHECK_NAMES, in order), failed when it has a problem."""
    by_check: dict[str, list[Problem]] = defaultdict(list)
    for problem in find_problems(state) if problems is None else problems:
        by_check[problem.check].append(problem)
    checks = []
    for name in CHECK_NAMES:
        found = by_check.get(name, [])
        detail = "; ".join(f"{p.key}: {p.detail}" if p.key else p.detail for p in found[:6])
        if len(found) > 6:
            detail += f" (+{len(found) - 6} more)"
        checks.append(Check(name, not found, detail))
    return checks


def _unsettled(state: SoakState) -> Iterable[Problem]:
    for key, obj in sorted(state.objects.items()):
        records = state.records.get(key, [])
        for record in records:
            if record.status not in SETTLED:
                yield Problem(
                    EVERY_OBJECT, key, f"version {record.version_id} left {record.status} {record.reason}"
                )
            elif not record.reason:
                yield Problem(
                    EVERY_OBJECT, key, f"version {record.version_id} is {record.status} with no reason"
                )
        if records:
            continue
        status, message = state.report_rows.get(key, ("", ""))
        # No history record: the qualifier decided (skipped or failed: its completion report row says why),
        # or the object was deleted before the job read it (the delete event's item records the deletion).
        if status and message:
            continue
        if obj.deleted:
            continue
        yield Problem(EVERY_OBJECT, key, "no history record and no completion report row")


def _registered_twice(state: SoakState) -> Iterable[Problem]:
    key_of = state.key_of()
    for registration in state.registry.duplicates:
        yield Problem(NOT_TWICE, key_of(registration), f"duplicate registration {registration.id}")
    active_by_key: dict[str | None, list[Registration]] = defaultdict(list)
    for registration in state.registry.active():
        active_by_key[key_of(registration)].append(registration)
    recorded = {
        i: key
        for key, records in state.records.items()
        for r in records
        if r.status == "indexed"
        for i in r.registration_ids
    }
    for key, registrations in active_by_key.items():
        if key is None:
            yield Problem(NOT_TWICE, None, f"{len(registrations)} active registrations of no object in S3")
            continue
        if len(registrations) > 1:
            yield Problem(NOT_TWICE, key, f"{len(registrations)} active registrations")
        for registration in registrations:
            if recorded.get(registration.id) != key:
                yield Problem(NOT_TWICE, key, f"registration {registration.id} not in an indexed record")
    for registration_id, key in recorded.items():
        found = state.registry.get(registration_id)
        if found is None or not found.active:
            yield Problem(NOT_TWICE, key, f"indexed record names {registration_id}, not registered")


def _faces_of_deleted(state: SoakState) -> Iterable[Problem]:
    key_of = state.key_of()
    active = Counter(key_of(r) for r in state.registry.active())
    for key, obj in sorted(state.objects.items()):
        if not obj.deleted:
            continue
        left = active[key]
        if left:
            yield Problem(NO_DELETED_FACE, key, f"deleted, {left} face(s) still registered")
        for record in state.records.get(key, []):
            if record.status == "indexed":
                yield Problem(NO_DELETED_FACE, key, f"deleted, version {record.version_id} still indexed")


def _unexplained_dlq(state: SoakState) -> Iterable[Problem]:
    for body in state.dlq_bodies:
        try:
            message = parse_message(body)
        except MessageError as exc:
            yield Problem(DLQ_EXPLAINED, None, f"unparseable DLQ message ({exc}): {body[:120]}")
            continue
        key = message.object.key
        if isinstance(message, DeleteMessage):
            if not state.delete_failures.get(key):
                yield Problem(DLQ_EXPLAINED, key, "delete message in the DLQ, no delete failure recorded")
            continue
        assert isinstance(message, ImportMessage)
        versions = [r for r in state.records.get(key, []) if r.version_id == message.object.version_id]
        if message.mode == "import" and any(r.status == "indexed" for r in versions):
            # A redundant copy: the version was imported, and SQS's redrive moved a copy that no handler saw
            # again (its receipt handle went stale when its visibility ran out in flight, or its receives were
            # spent by killed invocations). Nothing is lost, and redriving it is a no-op (already indexed).
            continue
        if not any(r.status in FAILURE_STATUSES and r.reason for r in versions):
            seen = ", ".join(f"{r.status} {r.reason}" for r in versions) or "no record"
            yield Problem(DLQ_EXPLAINED, key, f"import message in the DLQ, history says {seen}")


# -------------------------------------------------------------------------------------------- reading
def collect_state(runtime: Any, registry: Registry) -> SoakState:
    """Read the end state from the runtime's emulated services (admin credentials)."""
    outputs = runtime.deployment.outputs
    bucket = outputs["image_bucket_name"]
    s3 = runtime.client("s3")
    objects = _objects(s3, bucket)
    records, delete_failures = _history(runtime.client("dynamodb"), outputs["history_table_name"], bucket)
    report_rows: dict[str, tuple[str, str]] = {}
    stats = runtime.stats()
    for job in stats["jobs"]:
        for (key, _version), row in read_completion_report(s3, job).items():
            report_rows[key] = row
    return SoakState(
        objects=objects,
        records=records,
        delete_failures=delete_failures,
        report_rows=report_rows,
        registry=registry,
        dlq_bodies=_drain(runtime.client("sqs"), _queue_url(runtime, outputs["dlq_url"])),
        access_denied=list(stats["access_denied"]),
        bucket=bucket,
    )


def _queue_url(runtime: Any, deployed_url: str) -> str:
    """The queue's URL on the runtime's front door (as the runtime's own pollers address it)."""
    return f"{runtime.endpoint}/{runtime.account_id}/{deployed_url.rsplit('/', 1)[-1]}"


def _objects(s3: Any, bucket: str) -> dict[str, ObjectState]:
    objects: dict[str, ObjectState] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for marker in page.get("DeleteMarkers", []):
            obj = objects.setdefault(marker["Key"], ObjectState(marker["Key"]))
            obj.deleted = obj.deleted or marker["IsLatest"]
        for version in page.get("Versions", []):
            obj = objects.setdefault(version["Key"], ObjectState(version["Key"]))
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
            obj.fingerprints.add(hashlib.sha256(body.read()).hexdigest())
            tags = s3.get_object_tagging(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            obj.user_ids.update(t["Value"] for t in tags["TagSet"] if t["Key"] == "UserId")
    return objects


def _history(dynamodb: Any, table: str, bucket: str) -> tuple[dict[str, list[VersionRecord]], dict[str, str]]:
    deserialize = TypeDeserializer().deserialize
    prefix = object_pk(bucket, "")
    records: dict[str, list[VersionRecord]] = defaultdict(list)
    delete_failures: dict[str, str] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = {name: deserialize(value) for name, value in raw.items()}
            pk, sk = str(item["pk"]), str(item["sk"])
            if not pk.startswith(prefix):
                continue  # fingerprint claims and other item kinds
            key = pk.removeprefix(prefix)
            if sk == DELETE_EVENTS_SK:
                if item.get("status") == "failed":
                    delete_failures[key] = str(item.get("reason") or "")
                continue
            version = sk.removeprefix("v#")
            # As offline/demo/report.py: face ids (Rekognition), else the image id (the HTTP API's
            # registration).
            ids = tuple(item.get("face_ids") or ()) or ((item["image_id"],) if item.get("image_id") else ())
            records[key].append(
                VersionRecord(
                    key,
                    None if version == "null" else version,
                    str(item.get("status")),
                    str(item.get("reason") or ""),
                    tuple(str(i) for i in ids),
                )
            )
    return dict(records), delete_failures


def _drain(sqs: Any, queue_url: str) -> list[str]:
    """Every message body in the DLQ (the run is over: receiving hides them, nothing consumes them)."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=900, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(m["Body"] for m in messages)
