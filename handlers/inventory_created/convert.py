"""Filter inventory rows and write the S3BatchOperations_CSV_20180820 manifest, batch by batch.

Vectorised with pyarrow.compute: no Python code runs per row, except to percent-encode raw (Parquet/ORC)
keys that contain characters outside the unreserved set.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from handlers.common.contracts import encode_manifest_key
from handlers.inventory_created.errors import DataFileError
from handlers.inventory_created.sink import ManifestSink

# Outcome of every inventory row, counted and logged; the order is the order of the checks.
OUTCOMES = ("delete_marker", "not_latest", "not_image", "empty", "too_large", "unchanged", "selected")
# Keys made only of these characters are their own encoding (quote(key, safe="/") leaves them unchanged).
_UNRESERVED_KEY = r"^[A-Za-z0-9_.~/\-]*$"
_PRINTABLE_ASCII = r"^[\x20-\x7e]*$"
# Printable ASCII that quote(key, safe="/") percent-encodes; `%` first so later escapes stay intact.
_ASCII_SPECIALS = "%" + "".join(
    c for c in map(chr, range(0x20, 0x7F)) if c != "%" and not re.match(r"[A-Za-z0-9_.~/\-]", c)
)
# No quoting: a field holding a delimiter, quote or line break makes Arrow raise instead of writing a row
# S3 Batch would split differently. Encoded keys never hold one; S3 version ids are URL-ready strings.
_WRITE_OPTIONS = pcsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class RowFilter:
    image_suffixes: tuple[str, ...]
    max_image_bytes: int
    since_ms: int | None = None
    """Keep only objects last modified at or after this time (ms since the epoch); None keeps all."""


@dataclass
class ConversionResult:
    counts: Counter = field(default_factory=Counter)
    with_version_ids: bool = False

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def selected(self) -> int:
        return self.counts["selected"]


def suffix_pattern(suffixes: Iterable[str], url_encoded: bool) -> str:
    """A case-insensitive RE2 pattern matching keys that end with one of `suffixes`."""
    alternatives = []
    for suffix in suffixes:
        # An inventory-encoded key ends with the suffix's own encoding (letters, digits and `.` stay as is).
        text = quote(suffix, safe="") if url_encoded else suffix
        alternatives.append(re.escape(text))
    return "(?i)(?:" + "|".join(alternatives) + ")$"


def convert(
    batches: Iterable[pa.RecordBatch],
    sink: ManifestSink,
    row_filter: RowFilter,
    *,
    key_is_url_encoded: bool,
    source: str = "inventory data file",
) -> ConversionResult:
    """Write the manifest rows of every selected inventory row into `sink` (not committed here).

    Rows carry version ids when the inventory has a VersionId column (it lists object versions), so the
    job acts on exactly the version the inventory saw; otherwise `bucket,key` only.
    """
    result = ConversionResult()
    pattern = suffix_pattern(row_filter.image_suffixes, key_is_url_encoded)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        result.with_version_ids = "version_id" in batch.schema.names
        selected = _select(batch, row_filter, pattern, result.counts)
        if selected.num_rows == 0:
            continue
        rows = _manifest_rows(selected, key_is_url_encoded, result.with_version_ids)
        out = pa.BufferOutputStream()
        try:
            pcsv.write_csv(rows, out, write_options=_WRITE_OPTIONS)
        except pa.ArrowInvalid as exc:
            raise DataFileError(
                f"{source}: a selected row cannot be written as a manifest row: {exc}"
            ) from None
        sink.write(memoryview(out.getvalue()))
    return result


def _select(batch: pa.RecordBatch, row_filter: RowFilter, pattern: str, counts: Counter) -> pa.RecordBatch:
    """Rows to import; every other row is counted under the first check it fails."""
    remaining: pa.Array | None = None
    names = batch.schema.names
    checks: list[tuple[str, pa.Array]] = []
    if "is_delete_marker" in names:
        checks.append(("delete_marker", pc.fill_null(batch.column("is_delete_marker"), False)))
    if "is_latest" in names:
        checks.append(("not_latest", pc.invert(pc.fill_null(batch.column("is_latest"), True))))
    checks.append(("not_image", pc.invert(pc.match_substring_regex(batch.column("key"), pattern))))
    if "size" in names:
        size = batch.column("size")
        checks.append(("empty", pc.fill_null(pc.equal(size, 0), False)))
        checks.append(("too_large", pc.fill_null(pc.greater(size, row_filter.max_image_bytes), False)))
    if row_filter.since_ms is not None and "last_modified" in names:
        modified = batch.column("last_modified").cast(pa.int64())
        checks.append(("unchanged", pc.fill_null(pc.less(modified, row_filter.since_ms), False)))
    for outcome, rejected in checks:
        if remaining is None:
            hits = rejected
            remaining = pc.invert(rejected)
        else:
            hits = pc.and_(remaining, rejected)
            remaining = pc.and_not(remaining, rejected)
        counts[outcome] += pc.sum(hits).as_py() or 0
    kept = pc.sum(remaining).as_py() or 0
    counts["selected"] += kept
    if kept == batch.num_rows:
        return batch
    return batch.filter(remaining)


def _manifest_rows(batch: pa.RecordBatch, key_is_url_encoded: bool, with_version_ids: bool) -> pa.RecordBatch:
    key = batch.column("key")
    key = _reencode(key) if key_is_url_encoded else _encode_raw(key)
    columns = [batch.column("bucket"), key]
    names = ["bucket", "key"]
    if with_version_ids:
        version = batch.column("version_id")
        # S3 Batch names the null version (unversioned or suspended bucket) with the literal `null`.
        version = pc.if_else(pc.fill_null(pc.equal(version, ""), True), "null", version)
        columns.append(version)
        names.append("version_id")
    return pa.RecordBatch.from_arrays(columns, names=names)


def _reencode(key: pa.Array) -> pa.Array:
    """An inventory-encoded key (quote_plus style) -> the same key, encoded once, without a literal `+`.

    A correctly encoded key holds no other character that decodes differently or breaks a CSV row (and
    the writer refuses the latter): replacing `+` (the inventory's space) by `%20` is all it takes.
    """
    if pc.any(pc.match_substring(key, "+")).as_py():
        key = pc.replace_substring(key, "+", "%20")
    return key


def _encode_raw(key: pa.Array) -> pa.Array:
    """Raw keys -> exactly `encode_manifest_key(key)`, vectorised.

    Keys of unreserved characters are their own encoding; printable-ASCII keys are encoded by one
    replacement per special character present (`%` first, so no escape is encoded twice); only keys with
    other characters (unicode, controls) take the per-key Python call.
    """
    plain = pc.match_substring_regex(key, _UNRESERVED_KEY)
    if pc.all(plain).as_py():
        return key
    needs = pc.invert(plain)
    subset = pc.filter(key, needs)
    printable = pc.match_substring_regex(subset, _PRINTABLE_ASCII)
    ascii_keys = pc.filter(subset, printable)
    for char in _ASCII_SPECIALS:
        if pc.any(pc.match_substring(ascii_keys, char)).as_py():
            ascii_keys = pc.replace_substring(ascii_keys, char, f"%{ord(char):02X}")
    encoded = pc.replace_with_mask(subset, printable, ascii_keys)
    others = pc.invert(printable)
    if pc.any(others).as_py():
        python_encoded = [encode_manifest_key(k) for k in pc.filter(subset, others).to_pylist()]
        encoded = pc.replace_with_mask(encoded, others, pa.array(python_encoded, type=key.type))
    return pc.replace_with_mask(key, needs, encoded)
