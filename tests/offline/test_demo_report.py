"""The demo's checks fail when they should: a report that cannot fail proves nothing."""

from __future__ import annotations

from collections import Counter

from handlers.common.contracts import ObjectRef
from handlers.common.history import HistoryRecord
from offline.demo.report import final_states, reason_code, run_checks
from offline.demo.sample_data import build_sample_set
from offline.gateways.limits import Registry

GATEWAY_REFUSALS = ("invalid-image-format", "no-face")  # recorded by the indexer, without "invalid:"


class _History:
    """A history table's `get`, from a dict (the report reads, never writes)."""

    def __init__(self, records: dict[str, HistoryRecord]) -> None:
        self.records = records

    def get(self, obj: ObjectRef) -> HistoryRecord | None:
        return self.records.get(obj.key)


def _happy_run():
    """The sample's expected end state, as a perfect pipeline would leave it."""
    sample = build_sample_set("images", images=3, seed=1)
    registry = Registry()
    records, report_rows = {}, {}
    for obj in sample.objects:
        if obj.expect == "indexed" and obj.duplicate_of is None:
            reg = registry.add(obj.user_id, obj.key)
            records[obj.key] = HistoryRecord(
                "images", obj.key, "v1", "indexed", "registered", face_ids=(reg.id,)
            )
        elif obj.duplicate_of or (obj.expect == "invalid" and obj.reason in GATEWAY_REFUSALS):
            state = "skipped" if obj.duplicate_of else "invalid"
            records[obj.key] = HistoryRecord("images", obj.key, "v1", state, obj.reason)
        elif obj.expect == "invalid":
            records[obj.key] = HistoryRecord(
                "images", obj.key, "v1", "invalid", f"invalid:{obj.reason}: detail"
            )
        elif obj.expect == "skipped":
            report_rows[(obj.key, "v1")] = ("succeeded", f"skipped:{obj.reason}")
    versions = {obj.key: "v1" for obj in sample.objects}
    return sample, registry, records, report_rows, versions


def _checks(sample, registry, records, report_rows, versions, **overrides):
    outcomes = final_states(sample, versions, _History(records), report_rows)
    options = {"access_denied": [], "deregistered_ids": {"k": ["gone"]}, "dlq_depth": 0, "job": None}
    options.update(overrides)
    return {c.name.split(" (")[0]: c for c in run_checks(outcomes, registry, **options)}


def test_the_expected_end_state_passes_every_check():
    checks = _checks(*_happy_run())
    assert all(c.passed for c in checks.values()), [c for c in checks.values() if not c.passed]


def test_a_second_registration_of_the_same_image_fails():
    sample, registry, records, report_rows, versions = _happy_run()
    first = next(o for o in sample.images() if o.duplicate_of is None)
    registry.add(first.user_id, first.key)
    checks = _checks(sample, registry, records, report_rows, versions)
    assert not checks["nothing registered twice"].passed


def test_an_unsettled_or_unexpected_state_fails():
    sample, registry, records, report_rows, versions = _happy_run()
    key = next(o.key for o in sample.images() if o.duplicate_of is None)
    records[key] = HistoryRecord("images", key, "v1", "queued", "retrying: gateway busy")
    checks = _checks(sample, registry, records, report_rows, versions)
    assert not checks["every object ends indexed or with a recorded reason"].passed
    assert key in checks["final states match the sample data's expectations"].detail


def test_both_twins_indexed_fails():
    sample, registry, records, report_rows, versions = _happy_run()
    twin = next(o for o in sample.objects if o.duplicate_of)
    records[twin.key] = HistoryRecord("images", twin.key, "v1", "indexed", "registered")
    checks = _checks(sample, registry, records, report_rows, versions)
    assert not checks["final states match the sample data's expectations"].passed


def test_denials_a_full_dlq_and_a_kept_registration_fail():
    sample, registry, records, report_rows, versions = _happy_run()
    kept = registry.add("someone", "fingerprint")
    checks = _checks(
        sample,
        registry,
        records,
        report_rows,
        versions,
        access_denied=[
            {"caller": "indexer-role", "action": "s3:GetObject", "resource": "arn:aws:s3:::images/k"}
        ],
        deregistered_ids={"k": [kept.id]},
        dlq_depth=2,
    )
    assert "s3:GetObject" in checks["no access denied"].detail and not checks["no access denied"].passed
    assert not checks["deleted images deregistered"].passed
    assert not checks["dead-letter queue empty"].passed


def test_inventory_created_counts_must_match_what_the_sample_leaves_out():
    run = _happy_run()
    sample = run[0]
    left_out = Counter(o.reason for o in sample.objects if o.expect == "not_imported")
    selected = len(sample.objects) - left_out.total()
    name = "inventory_created selected the images and left out the rest"
    assert _checks(*run, inventory_counts=Counter(left_out, selected=selected))[name].passed
    wrong = Counter(left_out, selected=selected - 1, too_large=1)
    assert not _checks(*run, inventory_counts=wrong)[name].passed


def test_reason_codes():
    assert reason_code("invalid:user-id: UserId has 200 characters") == "user-id"
    assert reason_code("skipped:ignored") == "ignored"
    assert reason_code("registered") == "registered"
