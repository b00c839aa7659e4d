"""Property: whatever the order in which import messages and delete events are processed, relative to each
other and to the S3 changes behind them, no face stays registered for an object version that is not the
key's live version, no version is registered twice, and a live version whose message is processed at the end
is registered."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from indexer_fixtures import IMAGE_BUCKET, first_attempt, import_message, jpeg_bytes, put_image

from handlers.common.contracts import DeleteMessage, ObjectRef

# Steps: an S3 change (which queues its message) or processing one pending message (chosen by index).
STEP = st.one_of(
    st.just(("put",)),
    st.just(("delete-marker",)),
    st.tuples(st.just("delete-version"), st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("process"), st.integers(min_value=0, max_value=20)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=14), drain_order=st.randoms(use_true_random=False))
def test_no_face_outlives_its_version_in_any_order(
    s3, history, importer, deleter, face_index, steps, drain_order
):
    key = f"prop/{uuid.uuid4()}.jpg"
    sequencer = itertools.count(1)
    versions: list[str] = []
    pending: list[object] = []

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

    def process(message) -> None:
        if isinstance(message, DeleteMessage):
            outcome = deleter.process(message)
        else:
            outcome = importer.process(message, first_attempt())
        assert outcome.done, outcome

    for step in steps:
        if step[0] == "put":
            obj = put_image(s3, key, jpeg_bytes(f"{key}-{len(versions)}"))
            versions.append(obj.version_id)
            pending.append(import_message(obj, user_id=key))  # one user per key: no cross-example duplicates
        elif step[0] == "delete-marker":
            s3_delete()
        elif step[0] == "delete-version" and versions:
            s3_delete(VersionId=versions[step[1] % len(versions)])
        elif step[0] == "process" and pending:
            process(pending.pop(step[1] % len(pending)))
    drain_order.shuffle(pending)
    processed_at_end = list(pending)
    for message in processed_at_end:
        process(message)

    try:
        live = s3.head_object(Bucket=IMAGE_BUCKET, Key=key)["VersionId"]
    except s3.exceptions.ClientError:
        live = None
    registered = [version for _, k, version in face_index.faces.values() if k == key]
    assert len(registered) == len(set(registered)), "a version is registered twice"
    assert set(registered) <= {live}, f"faces of versions {registered} remain; live version is {live}"
    if live is not None and any(
        getattr(m, "type", "") == "import" and m.object.version_id == live for m in processed_at_end
    ):
        assert registered == [live], "the live version's import ran last but it is not registered"
