"""The import-history table's key schema: shared by the handlers and components/throttled_indexer.py.

One item per object version: pk = "obj#<bucket>/<key>", sk = "v#<version id or 'null'>".
Secondary indexes answer the history queries of ARCHITECTURE section 4:
- by run and time range:  BY_RUN_INDEX   (run_id, updated_at)
- by user:                BY_USER_INDEX  (user_id, updated_at)
- failures since a time:  FAILURES_INDEX (failure, updated_at); `failure` is set only on non-success records
  (status invalid / failed), so the index is sparse.
Non-success records expire through the TTL attribute TTL_ATTRIBUTE (epoch seconds).
Other item kinds (e.g. fingerprint claims for de-duplication) use their own pk prefix in the same table.
"""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
BY_RUN_INDEX = "by-run"
BY_USER_INDEX = "by-user"
FAILURES_INDEX = "failures"
RUN_ATTRIBUTE = "run_id"
USER_ATTRIBUTE = "user_id"
FAILURE_ATTRIBUTE = "failure"
TIME_ATTRIBUTE = "updated_at"
TTL_ATTRIBUTE = "expires_at"

# (index name, partition attribute, sort attribute); all string attributes, all projecting ALL.
GLOBAL_SECONDARY_INDEXES = (
    (BY_RUN_INDEX, RUN_ATTRIBUTE, TIME_ATTRIBUTE),
    (BY_USER_INDEX, USER_ATTRIBUTE, TIME_ATTRIBUTE),
    (FAILURES_INDEX, FAILURE_ATTRIBUTE, TIME_ATTRIBUTE),
)


def object_pk(bucket: str, key: str) -> str:
    return f"obj#{bucket}/{key}"


def version_sk(version_id: str | None) -> str:
    return f"v#{version_id or 'null'}"
