"""Every input that once crashed a fuzz target (tests/events/fuzz-regressions/<target>/) replayed through
that target, which allows only success or the code's documented error type with a clear message; and every
target accepts its seeds (the real samples), so `make fuzz` starts from inputs that work."""

from __future__ import annotations

import gzip
import json

import pytest

from fuzz.targets import REGRESSIONS, TARGETS, _MemoryS3, regression_inputs
from handlers.inventory_created.errors import DataFileError, ManifestError
from handlers.inventory_created.manifest import inventory_id, parse_manifest
from handlers.inventory_created.reader import DataFileReader

REPLAYS = list(regression_inputs())


@pytest.mark.parametrize(("target", "path"), REPLAYS, ids=[f"{t}/{p.name}" for t, p in REPLAYS])
def test_a_crash_input_ends_in_an_allowed_outcome(target, path):
    TARGETS[target].run(path.read_bytes())


@pytest.mark.parametrize("target", list(TARGETS))
def test_each_target_accepts_its_real_seeds(target):
    seeds = TARGETS[target].seeds()
    assert seeds
    for seed in seeds:
        TARGETS[target].run(seed)


def test_a_creation_timestamp_beyond_any_date_is_a_manifest_error_naming_the_field():
    # Found by the inventory_event target: it made datetime.fromtimestamp raise OverflowError.
    data = json.loads((REGRESSIONS / "inventory_event" / "creation-timestamp-overflow.json").read_bytes())
    with pytest.raises(ManifestError, match="creationTimestamp"):
        inventory_id(parse_manifest(data, "payload"), None, "0" * 32)


def test_a_header_row_ending_in_crlf_is_still_the_header():
    # The inventory_csv crash came from a carriage return in the first row; one that merely ends the line
    # (a CRLF file) must keep naming the columns.
    body = gzip.compress(b"Bucket,Key,Size\r\nimages,photos/a+b.jpg,5\r\n")
    manifest = parse_manifest(
        {"destinationBucket": "fuzz-inventory", "fileFormat": "CSV", "files": [{"key": "d.csv.gz"}]}, "test"
    )
    s3 = _MemoryS3({"d.csv.gz": body})
    with DataFileReader(s3, manifest, manifest.files[0]) as reader:
        rows = [row for batch in reader.batches() for row in batch.to_pylist()]
    assert rows == [{"bucket": "images", "key": "photos/a+b.jpg", "size": 5}]


def test_a_parquet_file_yielding_fewer_rows_than_its_footer_declares_is_corrupt(monkeypatch):
    # Found by the inventory_parquet target: a 2,992-byte file with one mutated page header of the
    # is_delete_marker column made pyarrow return no rows at all, without an error (and allocate ~2 GB, so
    # the input itself is not replayed here). Arrow dropping a row is injected instead.
    import pyarrow.parquet as pq

    real_iter_batches = pq.ParquetFile.iter_batches

    def losing_a_row(self, *args, **kwargs):
        for batch in real_iter_batches(self, *args, **kwargs):
            yield batch.slice(0, batch.num_rows - 1)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", losing_a_row)
    body = (REGRESSIONS.parent / "inventory" / "parquet_inventory.parquet").read_bytes()
    manifest = parse_manifest(
        {"destinationBucket": "fuzz-inventory", "fileFormat": "Parquet", "files": [{"key": "d.parquet"}]}, "t"
    )
    with (
        pytest.raises(DataFileError, match=r"d.parquet is corrupt: 4 rows read, its footer declares 5"),
        DataFileReader(_MemoryS3({"d.parquet": body}), manifest, manifest.files[0]) as reader,
    ):
        list(reader.batches())
