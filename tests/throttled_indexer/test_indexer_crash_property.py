"""Property: with workers killed after the gateway call (before the history write) at any point among uploads,
delete markers, version deletions and message processing, no version is registered twice and no face outlives
its version, except the documented limit: a version deleted for good while its worker lay dead cannot be
looked up by image, and then its record says so."""

from __future__ import annotations

import itertools
import random
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from indexer_fixtures import IMAGE_BUCKET, first_attempt, import_message, jpeg_bytes, put_image

from handlers.common.contracts import DeleteMessage, ImportMessage, ObjectRef
from handlers.throttled_indexer.recovery import UNVERIFIABLE

LEASE_SECONDS = 900

STEP = st.one_of(
    st.just(("put",)),
    st.just(("delete-marker",)),
    st.tuples(st.just("delete-version"), st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("process"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("crash"), st.integers(min_value=0, max_value=20)),
    st.just(("lease-ends",)),
)


class WorkerDied(BaseException):
    pass


def _die(_obj) -> None:
    raise WorkerDied


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=16), drain_order=st.randoms(use_true_random=False))
# Always run, whatever the generator draws: the crash redelivered while the version is live, while a newer
# version arrives, and around a delete marker / a permanent deletion, inside and after the dead lease.
@example(steps=[("put",), ("crash", 0)], drain_order=random.Random(0))
@example(steps=[("put",), ("crash", 0), ("lease-ends",), ("process", 0)], drain_order=random.Random(0))
@example(steps=[("put",), ("crash", 0), ("put",), ("lease-ends",)], drain_order=random.Random(0))
@example(steps=[("put",), ("crash", 0), ("delete-marker",), ("process", 1)], drain_order=random.Random(0))
@example(
    steps=[("put",), ("crash", 0), ("lease-ends",), ("delete-version", 0), ("process", 1)],
    drain_order=random.Random(0),
)
def test_crashed_workers_never_leave_a_version_registered_twice(
    s3, history, importer, deleter, face_index, clock, steps, drain_order, make_importer
):
    key = f"crash/{uuid.uuid4()}.jpg"
    sequencer = itertools.count(1)
    versions: list[str] = []
    pending: list[object] = []
    crashing = make_importer(retire_superseded=deleter.retire_superseded, before_finish=_die)

    def readable(obj: ObjectRef) -> bool:
        try:
            s3.head_object(Bucket=obj.bucket, Key=obj.key, VersionId=obj.version_id)
        except s3.exceptions.ClientError as exc:
            # A delete marker's HEAD is 405; only a version that is gone for good is unreadable by version.
            return exc.response["Error"]["Code"] not in ("404", "NoSuchVersion", "400")
        return True

    face_index.readable = readable

    def s3_delete(**kwargs) -> None:
        response = s3.delete_object(Bucket=IMAGE_BUCKET, Key=key, **kwargs)
        pending.append(
            DeleteMessage(
                object=ObjectRef(
                    bucket=IMAGE_BUCKET,
                    key=key,
                    version_id=response.get("VersionId"),
                    sequencer=f"{next(sequencer):016X}",
                )
            )
        )

    def process(message, worker=importer) -> bool:
        """True when the message is finished; False when it is to be delivered again."""
        if isinstance(message, DeleteMessage):
            outcome = deleter.process(message)
        else:
            try:
                outcome = worker.process(message, first_attempt())
            except WorkerDied:
                return False
        assert outcome.done or outcome.label == "retry:in-progress", outcome
        return outcome.done

    for step in steps:
        if step[0] == "put":
            obj = put_image(s3, key, jpeg_bytes(f"{key}-{len(versions)}"))
            versions.append(obj.version_id)
            pending.append(import_message(obj, user_id=key))
        elif step[0] == "delete-marker":
            s3_delete()
        elif step[0] == "delete-version" and versions:
            s3_delete(VersionId=versions[step[1] % len(versions)])
        elif step[0] in ("process", "crash") and pending:
            message = pending.pop(step[1] % len(pending))
            worker = crashing if step[0] == "crash" and isinstance(message, ImportMessage) else importer
            if not process(message, worker):
                pending.append(message)  # redelivered after its visibility timeout
        elif step[0] == "lease-ends":
            clock.advance(LEASE_SECONDS + 1)
    clock.advance(LEASE_SECONDS + 1)  # every redelivery comes after the dead workers' leases
    drain_order.shuffle(pending)
    processed_at_end = list(pending)
    for message in processed_at_end:
        assert process(message), message

    try:
        live = s3.head_object(Bucket=IMAGE_BUCKET, Key=key)["VersionId"]
    except s3.exceptions.ClientError:
        live = None
    registered = [version for _, k, version in face_index.faces.values() if k == key]
    assert len(registered) == len(set(registered)), f"a version is registered twice: {registered}"
    unverifiable = {r.version_id for r in history.by_object(IMAGE_BUCKET, key) if UNVERIFIABLE in r.raw}
    leftover = set(registered) - {live}
    assert leftover <= unverifiable, f"faces of versions {leftover} remain; live version is {live}"
    if live is not None and any(
        isinstance(m, ImportMessage) and m.object.version_id == live for m in processed_at_end
    ):
        assert registered.count(live) == 1, "the live version's import ran last but it is not registered"
