"""The vectorised row filter against a plain-Python statement of the rules (hypothesis)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.common.contracts import encode_manifest_key
from handlers.inventory_created.convert import RowFilter, convert

MAX_BYTES = 1000
SINCE = 1_700_000_000_000
SUFFIXES = (".png", ".jpg", ".jpeg")

rows = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.tuples(
                st.text(min_size=0, max_size=5, alphabet="ab c/"),
                st.sampled_from([".png", ".JPG", ".jpeg", ".JpEg", ".gif", ".jpg.txt", "jpg", ".pn", ""]),
            ).map("".join),
            "is_latest": st.one_of(st.none(), st.booleans()),
            "is_delete_marker": st.one_of(st.none(), st.booleans()),
            "size": st.one_of(st.none(), st.sampled_from([0, 1, MAX_BYTES, MAX_BYTES + 1])),
            "last_modified": st.one_of(st.none(), st.sampled_from([SINCE - 1, SINCE, SINCE + 1])),
        }
    ),
    min_size=1,
    max_size=40,
)


def expected_outcome(row: dict, since: int | None) -> str:
    """The rules of issue 3, one row at a time; a missing value never rejects a row by itself."""
    if row["is_delete_marker"]:
        return "delete_marker"
    if row["is_latest"] is False:
        return "not_latest"
    if not row["key"].lower().endswith(SUFFIXES):
        return "not_image"
    if row["size"] == 0:
        return "empty"
    if row["size"] is not None and row["size"] > MAX_BYTES:
        return "too_large"
    if since is not None and row["last_modified"] is not None and row["last_modified"] < since:
        return "unchanged"
    return "selected"


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data) -> int:
        self.data += data
        return len(data)


@settings(max_examples=200, deadline=None)
@given(rows=rows, since=st.sampled_from([None, SINCE]))
def test_every_row_gets_the_outcome_the_rules_give(rows, since):
    batch = pa.RecordBatch.from_pydict(
        {
            "bucket": ["b"] * len(rows),
            "key": [r["key"] for r in rows],
            "is_latest": pa.array([r["is_latest"] for r in rows], pa.bool_()),
            "is_delete_marker": pa.array([r["is_delete_marker"] for r in rows], pa.bool_()),
            "size": pa.array([r["size"] for r in rows], pa.int64()),
            "last_modified": pa.array([r["last_modified"] for r in rows], pa.timestamp("ms", tz="UTC")),
        }
    )
    sink = _Sink()
    result = convert([batch], sink, RowFilter(SUFFIXES, MAX_BYTES, since), key_is_url_encoded=False)
    outcomes = [expected_outcome(r, since) for r in rows]
    assert +result.counts == +Counter(outcomes)
    written = [line.split(",")[1] for line in sink.data.decode().splitlines()]
    assert written == [
        encode_manifest_key(r["key"]) for r, o in zip(rows, outcomes, strict=True) if o == "selected"
    ]
