"""Property: whatever the key, our manifest encoding and our event decoding give it back unchanged."""

from __future__ import annotations

from urllib.parse import quote_plus

from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask
from hypothesis import given
from hypothesis import strategies as st

from handlers.batch_qualifier.events import parse_invocation
from handlers.common.contracts import decode_batch_key, encode_manifest_key

# S3 keys: 1-1024 bytes of UTF-8; surrogates cannot be encoded.
keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200)


@given(keys)
def test_manifest_encoding_round_trips(key):
    assert decode_batch_key(encode_manifest_key(key)) == key


@given(keys)
def test_s3_style_plus_encoding_also_round_trips(key):
    assert decode_batch_key(quote_plus(key, safe="/")) == key


@given(keys)
def test_the_event_parser_decodes_exactly_once(key):
    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "i",
        "job": {"id": "j", "userArguments": {}},
        "tasks": [
            {"taskId": "t", "s3Bucket": "bucket", "s3Key": encode_manifest_key(key), "s3VersionId": None}
        ],
    }
    assert parse_invocation(event).tasks[0].key == key


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200))
def test_powertools_decodes_event_keys_exactly_as_our_contract(raw_key):
    # We read the raw s3Key and decode it ourselves once; Powertools' own property must agree, so using either
    # never changes a key (and neither decodes twice).
    task = S3BatchOperationTask({"taskId": "t", "s3Key": raw_key, "s3Bucket": "bucket"})
    assert task.s3_key == decode_batch_key(raw_key)
