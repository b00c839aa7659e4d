"""The demo's final report: where every sample object ended (import history + the S3 Batch completion report),
the checks that prove nothing was lost or done twice, and time per stage.

Sources, in order of authority for one object version: its import-history record (status + reason), else its
row in the job's completion report (tasks the qualifier skipped leave no history record), else it never
reached the job (inventory_created filtered it: not an image suffix, empty, a delete marker).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from handlers.common.contracts import ObjectRef
from handlers.common.history import HistoryRecord, HistoryStore
from handlers.throttled_indexer.rekognition_users import rekognition_user_id
from offline.demo.sample_data import SampleObject, SampleSet
from offline.gateways.limits import Registry

# An indexed record's reason: registered now, found after a lost answer, or the API said it already had it.
INDEXED_REASONS = {"registered", "recovered", "already-registered"}
NOT_IN_JOB = "not in the job manifest (filtered by inventory_created)"


@dataclass
class ObjectOutcome:
    obj: SampleObject
    version_id: str | None
    state: str
    reason: str
    """The recorded reason as written (history reason or completion-report result string)."""
    expected: str
    expected_reason: str
    record: HistoryRecord | None = None

    @property
    def reason_code(self) -> str:
        return reason_code(self.reason)

    @property
    def as_expected(self) -> bool:
        if self.state != self.expected:
            return False
        if self.state == "indexed":
            return self.reason_code in INDEXED_REASONS
        if self.state in ("deleted", "not_imported"):
            return True  # the state says it all (deletion reason: how the deletion arrived)
        return self.reason_code == self.expected_reason


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Stages:
    """Wall time per stage of the demo, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started


@dataclass
class DemoReport:
    outcomes: list[ObjectOutcome]
    checks: list[Check]
    stages: Stages
    job: dict[str, Any] | None
    gateway: str
    gateway_calls: dict[str, int] = field(default_factory=dict)
    inventory_counts: dict[str, int] = field(default_factory=dict)
    gateway_pace: str = ""
    """The registration rate against the gateway's limit and the throttled calls (`pace_line`)."""

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def render(self) -> str:
        lines = ["", "== Final states (sample objects) =="]
        by_state: dict[str, Counter[str]] = {}
        for outcome in self.outcomes:
            by_state.setdefault(outcome.state, Counter())[outcome.reason_code or outcome.reason] += 1
        order = ["indexed", "deleted", "skipped", "invalid", "failed", "not_imported"]
        for state in order + sorted(set(by_state) - set(order)):
            if state in by_state:
                reasons = ", ".join(f"{reason} {n}" for reason, n in by_state[state].most_common())
                lines.append(f"  {state:<13} {sum(by_state[state].values()):>5}   ({reasons})")
        if self.inventory_counts:
            counts = ", ".join(f"{name} {n}" for name, n in sorted(self.inventory_counts.items()))
            lines += ["", "== inventory_created (rows of the inventory, from its log) ==", f"  {counts}"]
        if self.job:
            lines += [
                "",
                "== S3 Batch job ==",
                f"  job {self.job['id']}: {self.job['status']}, {self.job['total']} tasks, "
                f"{self.job['succeeded']} succeeded, {self.job['failed']} failed (permanent: invalid data), "
                f"{self.job['temporary_failure_retries']} TemporaryFailure retries, "
                f"{self.job['active_seconds']:.1f} s active",
                f"  completion report: {self.job.get('report')}",
            ]
        if self.gateway_calls:
            calls = ", ".join(f"{name} {n}" for name, n in sorted(self.gateway_calls.items()))
            lines += ["", f"== Gateway ({self.gateway}) ==", f"  {calls}"]
            if self.gateway_pace:
                lines.append(f"  {self.gateway_pace}")
        lines += ["", "== Time per stage =="]
        lines += [f"  {name:<32} {seconds:7.1f} s" for name, seconds in self.stages.seconds.items()]
        lines.append(f"  {'total':<32} {sum(self.stages.seconds.values()):7.1f} s")
        lines += ["", "== Checks =="]
        for check in self.checks:
            mark = "PASS" if check.passed else "FAIL"
            lines.append(f"  [{mark}] {check.name}" + (f": {check.detail}" if check.detail else ""))
        lines.append("")
        lines.append("DEMO PASSED" if self.passed else "DEMO FAILED")
        return "\n".join(lines)


def pace_line(registrations: int, rate: float, limit: float | None, throttled: int) -> str:
    """`registrations` at `rate`/s (first to last) against the gateway's `limit` (None: unlimited), and the
    calls it refused for its rate per registration: what pacing is for."""
    against = f" = {rate / limit:.2f} x the gateway's limit {limit:g}/s" if limit else " (gateway unlimited)"
    per = throttled / registrations if registrations else 0.0
    return (
        f"registration rate {rate:.2f}/s from the first to the last of {registrations}{against}; "
        f"throttled calls {throttled} = {per:.3f} per registration"
    )


def reason_code(reason: str | None) -> str:
    """`invalid:user-id: UserId has ...` -> `user-id`; `skipped:ignored` -> `ignored`; `registered` as is."""
    text = reason or ""
    for prefix in ("invalid:", "skipped:"):
        text = text.removeprefix(prefix)
    return text.split(":", 1)[0].strip()


def read_completion_report(s3: Any, job: dict[str, Any] | None) -> dict[tuple[str, str], tuple[str, str]]:
    """(key, version id or "") -> (task status, result string), from the report's result files (streamed)."""
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    if not job or not job.get("report"):
        return rows
    bucket, _, manifest_key = job["report"].removeprefix("s3://").partition("/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    for result in manifest.get("Results", []):
        body = s3.get_object(Bucket=result["Bucket"], Key=result["Key"])["Body"]
        text = io.TextIOWrapper(body, encoding="utf-8", newline="")
        for row in csv.reader(text):
            # bucket, key (URL-encoded as in the job manifest), version, status, HTTP status, code, message
            if len(row) < 7:
                continue
            version = "" if row[2] in ("", "null") else row[2]
            rows[(unquote(row[1]), version)] = (row[3], row[6])
    return rows


def inventory_filter_counts(logs: Any, function_name: str) -> Counter[str]:
    """What inventory_created did with the inventory rows (selected / not_image / empty / ...), summed from
    the per-data-file lines it logs to its CloudWatch Logs group (the last line per data file part counts: a
    retried invocation logs again)."""
    per_file: dict[tuple[str, Any], dict[str, int]] = {}
    paginator = logs.get_paginator("filter_log_events")
    for page in paginator.paginate(logGroupName=f"/aws/lambda/{function_name}"):
        for event in page.get("events", []):
            try:
                line = json.loads(event["message"])
            except ValueError:
                continue
            if isinstance(line, dict) and isinstance(line.get("counts"), dict) and "dataFile" in line:
                per_file[(line["dataFile"], line.get("part"))] = line["counts"]
    total: Counter[str] = Counter()
    for counts in per_file.values():
        total.update(counts)
    return total


def final_states(
    sample: SampleSet,
    versions: dict[str, str],
    history: HistoryStore,
    report_rows: dict[tuple[str, str], tuple[str, str]],
    deleted: Iterable[str] = (),
    gateway: str = "rekognition",
) -> list[ObjectOutcome]:
    deleted = set(deleted)
    outcomes = []
    for obj in sample.objects:
        version = versions.get(obj.key) or None
        expected = "deleted" if obj.key in deleted else obj.expect
        record = history.get(ObjectRef(bucket=sample.bucket, key=obj.key, version_id=version))
        if record is not None:
            state, reason = record.status, record.reason or ""
        elif (obj.key, version or "") in report_rows:
            status, message = report_rows[(obj.key, version or "")]
            if status == "succeeded" and message.startswith("skipped:"):
                state, reason = "skipped", message
            elif status == "succeeded":
                state, reason = "queued", f"{message} (no history record)"
            else:
                state, reason = "failed", message
        else:
            state, reason = "not_imported", NOT_IN_JOB
        outcomes.append(
            ObjectOutcome(obj, version, state, reason, expected, obj.expected_reason(gateway), record)
        )
    return outcomes


def run_checks(
    outcomes: list[ObjectOutcome],
    registry: Registry,
    *,
    access_denied: list[dict[str, Any]],
    deregistered_ids: dict[str, list[str]],
    dlq_depth: int | None,
    job: dict[str, Any] | None,
    inventory_counts: Counter[str] | None = None,
) -> list[Check]:
    """The demo's pass/fail checks. `deregistered_ids`: deleted key -> its registration ids when indexed."""
    checks = []
    unsettled = [o for o in outcomes if o.state in ("queued", "indexing")]
    checks.append(
        Check(
            "every object ends indexed or with a recorded reason",
            not unsettled and all(o.reason for o in outcomes),
            "; ".join(f"{o.obj.key}: {o.state} {o.reason}" for o in unsettled[:5]),
        )
    )
    by_key = {o.obj.key: o for o in outcomes}
    paired = {key for o in outcomes if o.obj.duplicate_of for key in (o.obj.key, o.obj.duplicate_of)}
    wrong = [o for o in outcomes if not o.as_expected and o.obj.key not in paired]
    for o in outcomes:
        if o.obj.duplicate_of is None:
            continue
        # The same image twice for one user: whichever was claimed first is indexed, the other a duplicate.
        pair = sorted(
            (p.state, p.reason_code if p.state != "indexed" else "registered")
            for p in (o, by_key[o.obj.duplicate_of])
        )
        if pair != [("indexed", "registered"), ("skipped", "duplicate")] and o.expected != "deleted":
            wrong.append(o)
    checks.append(
        Check(
            "final states match the sample data's expectations",
            not wrong,
            "; ".join(
                f"{o.obj.key}: expected {o.expected}/{o.expected_reason}, got {o.state}/{o.reason[:120]}"
                for o in wrong[:8]
            )
            + (f" (+{len(wrong) - 8} more)" if len(wrong) > 8 else ""),
        )
    )
    active = registry.active()
    indexed = [o for o in outcomes if o.state == "indexed"]
    recorded_ids = {i for o in indexed if o.record for i in (o.record.face_ids or (o.record.image_id,)) if i}
    stray = [r.id for r in active if r.id not in recorded_ids]
    checks.append(
        Check(
            "nothing registered twice",
            not registry.duplicates and not stray and len(active) == len(indexed),
            f"{len(active)} active registrations for {len(indexed)} indexed images; "
            f"{len(registry.duplicates)} duplicate registrations; {len(stray)} without an indexed record",
        )
    )
    checks.append(
        Check(
            "no access denied",
            not access_denied,
            "; ".join(f"{d['caller']} {d['action']} on {d['resource']}" for d in access_denied[:5]),
        )
    )
    still = {
        key: [i for i in ids if (r := registry.get(i)) is not None and r.active]
        for key, ids in deregistered_ids.items()
    }
    still = {key: ids for key, ids in still.items() if ids}
    not_deleted = [o.obj.key for o in outcomes if o.expected == "deleted" and o.state != "deleted"]
    checks.append(
        Check(
            f"deleted images deregistered ({len(deregistered_ids)})",
            bool(deregistered_ids) and not still and not not_deleted,
            "; ".join(
                [*(f"{k} still registered" for k in still), *(f"{k} not deleted" for k in not_deleted)]
            ),
        )
    )
    if inventory_counts is not None:
        left_out = Counter(o.obj.reason for o in outcomes if o.obj.expect == "not_imported")
        observed = Counter({k: n for k, n in inventory_counts.items() if k != "selected" and n})
        selected = len(outcomes) - left_out.total()
        checks.append(
            Check(
                "inventory_created selected the images and left out the rest",
                observed == left_out and inventory_counts["selected"] == selected,
                f"selected {inventory_counts['selected']} (expected {selected}); left out {dict(observed)} "
                f"(expected {dict(left_out)})",
            )
        )
    if dlq_depth is not None:
        checks.append(Check("dead-letter queue empty", dlq_depth == 0, f"{dlq_depth} messages"))
    if job is not None:
        checks.append(
            Check("S3 Batch job complete", job.get("status") == "Complete", f"status {job.get('status')}")
        )
    return checks


def user_checks(
    outcomes: list[ObjectOutcome], history: HistoryStore, user_faces: dict[str, list[str]]
) -> list[Check]:
    """rekognitionMode users: the collection's users (`user_faces`: Rekognition UserId -> associated faces,
    from the emulator) are exactly what the history says makes up each user (`faces_of_user`)."""
    indexed_users = {o.obj.user_id for o in outcomes if o.state == "indexed" and o.obj.user_id}
    expected = {
        rekognition_user_id(user): sorted(face for face, _ in history.faces_of_user(user))
        for user in indexed_users
    }
    actual = {user: sorted(faces) for user, faces in user_faces.items()}
    differ = sorted(set(expected) ^ set(actual) | {u for u in expected if actual.get(u) != expected[u]})
    several = Counter(o.obj.user_id for o in outcomes if o.state == "indexed" and o.obj.user_id)
    shared = {user: n for user, n in several.items() if n > 1}
    emptied = {
        o.obj.user_id
        for o in outcomes
        if o.state == "deleted" and o.obj.user_id and o.obj.user_id not in indexed_users
    }
    left = sorted(user for user in emptied if rekognition_user_id(user) in user_faces)
    return [
        Check(
            f"one Rekognition user per indexed UserId, with the faces the history gives it ({len(actual)})",
            not differ,
            "; ".join(f"{u}: history {expected.get(u)}, collection {actual.get(u)}" for u in differ[:5]),
        ),
        Check(
            "several images build one user",
            bool(shared) and all(len(actual.get(rekognition_user_id(u), [])) == n for u, n in shared.items()),
            ", ".join(
                f"{u}: {n} images, {len(actual.get(rekognition_user_id(u), []))} faces"
                for u, n in shared.items()
            ),
        ),
        Check(
            f"a delete that empties a user deletes the user ({len(emptied)})",
            bool(emptied) and not left,
            "; ".join(f"{u} still exists" for u in left),
        ),
    ]
