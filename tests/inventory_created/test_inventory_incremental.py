"""Incremental by default (issue 15): the first run selects everything, later runs only what changed since the
last successful run, a full re-scan is one direct invocation away."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from inventory_fixtures import INVENTORY_BUCKET, Row, csv_gz, importer, put_inventory

from handlers.inventory_created.errors import EventError
from handlers.inventory_created.events import ManifestLocation, ManifestPayload, parse_event

OLD = datetime(2024, 4, 1, tzinfo=UTC)
DAY1 = ("2024-05-02T01-00Z", 1714611600000)
DAY2 = ("2024-05-03T01-00Z", 1714698000000)


def _inventory(s3, rows, day):
    date, created = day
    return put_inventory(s3, [csv_gz(rows)], date=date, creation_timestamp=created)


def _at(inv, **fields) -> ManifestLocation:
    return ManifestLocation(INVENTORY_BUCKET, inv.manifest_key, inv.checksum_key, **fields)


def test_default_settings_select_everything_first_then_only_what_changed(s3, s3control, lambda_client):
    rows = [
        Row("a.jpg", version_id="v1", last_modified=OLD),
        Row("b.png", version_id="v1", last_modified=OLD),
    ]
    s3control.expect(2)
    first = importer(s3, s3control, lambda_client).import_location(_at(_inventory(s3, rows, DAY1)))
    # No state yet: the first run of a stack is full.
    assert first["selection"] == "full" and first["counts"] == {"selected": 2}

    # Day 2: b.png has a new version (so a new LastModified; the old one is no longer the latest).
    changed = datetime(2024, 5, 2, 18, tzinfo=UTC)
    day2_rows = [
        Row("a.jpg", version_id="v1", last_modified=OLD),
        Row("b.png", version_id="v1", last_modified=OLD, is_latest=False),
        Row("b.png", version_id="v2", last_modified=changed),
    ]
    second = importer(s3, s3control, lambda_client).import_location(_at(_inventory(s3, day2_rows, DAY2)))
    assert second["selection"] == "incremental"
    assert second["sinceMs"] == DAY1[1] - 3600 * 1000  # the overlap reaches back before day 1's snapshot
    assert second["counts"] == {"unchanged": 1, "not_latest": 1, "selected": 1}
    assert len(s3control.calls) == 2


def test_a_full_rescan_is_its_own_job_and_selects_every_object(s3, s3control, lambda_client):
    rows = [Row("a.jpg", last_modified=OLD), Row("b.png", last_modified=OLD)]
    s3control.expect(3)
    run = importer(s3, s3control, lambda_client)
    run.import_location(_at(_inventory(s3, rows, DAY1)))
    day2 = _inventory(s3, rows, DAY2)
    assert run.import_location(_at(day2))["counts"] == {"unchanged": 2}

    full = run.import_location(_at(day2, selection="full"))
    assert full["selection"] == "full" and full["counts"] == {"selected": 2}
    assert full["jobs"][0]["manifest"].endswith("/2024-05-03T01-00Z/import-full/part-00000.csv")
    # Asked for again (a retried command): the same request token, so S3 Batch keeps one job.
    run.import_location(_at(day2, selection="full"))
    first, again = s3control.calls[1:]
    assert first["ClientRequestToken"] == again["ClientRequestToken"]


def test_incremental_on_request_when_the_setting_is_off(s3, s3control, lambda_client):
    rows = [Row("a.jpg", last_modified=OLD)]
    s3control.expect(1)
    run = importer(s3, s3control, lambda_client, only_new_objects=False)
    run.import_location(_at(_inventory(s3, rows, DAY1)))
    day2 = _inventory(s3, rows, DAY2)
    assert run.import_location(_at(day2, selection="incremental"))["counts"] == {"unchanged": 1}
    assert len(s3control.calls) == 1


def test_direct_invocations_take_a_selection():
    assert parse_event({"bucket": "inv", "key": "x/manifest.json", "selection": "full"}) == [
        ManifestLocation("inv", "x/manifest.json", None, "import", "full")
    ]
    payload = {"destinationBucket": "inv", "fileFormat": "CSV", "files": [{"key": "d.csv.gz"}]}
    assert parse_event({**payload, "selection": "incremental"}) == [
        ManifestPayload(payload, "import", "incremental")
    ]
    with pytest.raises(EventError, match="selection must be one of full, incremental, got 'all'"):
        parse_event({"bucket": "inv", "key": "x/manifest.json", "selection": "all"})
