"""The Lambda entry point: settings from the environment, one result per task, EMF metrics per outcome."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from qualifier_fixtures import HISTORY_TABLE, HOSTILE_KEYS, JPEG, batch_event, batch_task, s3_encoded

from handlers.batch_qualifier.provider_loader import ProviderConfigError
from handlers.common import aws as common_aws
from tests.lambda_context import context_factory

APP = "handlers.batch_qualifier.app"


FakeContext = context_factory("batch-qualifier")


def _cold_start(monkeypatch, env, **variables):
    """Import app.py afresh, as a new execution environment would, with these environment variables."""
    monkeypatch.setenv("QUEUE_URL", env.queue_url)
    monkeypatch.setenv("HISTORY_TABLE", HISTORY_TABLE)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    common_aws.client.cache_clear()
    sys.modules.pop(APP, None)
    return importlib.import_module(APP)


def _metrics(stdout: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for definition in document["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = document[metric["Name"]]
                found[metric["Name"]] = found.get(metric["Name"], 0) + (
                    sum(value) if isinstance(value, list) else value
                )
    return found


@pytest.fixture(autouse=True)
def _fresh_app():
    yield
    sys.modules.pop(APP, None)
    common_aws.client.cache_clear()


@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
def test_handler_answers_each_schema_and_counts_outcomes(monkeypatch, env, capsys, schema_version):
    app = _cold_start(monkeypatch, env)
    env.put_image("in/a b+c.png", tags={"UserId": "alice"})
    event = batch_event(
        [batch_task(s3_encoded("in/a b+c.png"), schema_version=schema_version, task_id="t-1")],
        schema_version=schema_version,
    )
    response = app.handler(event, FakeContext())
    assert response == {
        "invocationSchemaVersion": schema_version,
        "invocationId": "inv-abc",
        "treatMissingKeysAs": "PermanentFailure",
        "results": [{"taskId": "t-1", "resultCode": "Succeeded", "resultString": "queued"}],
    }
    (body,) = env.queued_messages()
    assert body["object"]["key"] == "in/a b+c.png"
    assert body["run_id"] == ("run-7" if schema_version == "2.0" else "job-42")
    assert body["job_id"] == "job-42"
    assert env.history_item("in/a b+c.png")["status"] == "queued"
    assert _metrics(capsys.readouterr().out) == {"Queued": 1}


def test_every_task_gets_a_result_and_a_metric(monkeypatch, env, capsys):
    app = _cold_start(monkeypatch, env)
    env.put_image(HOSTILE_KEYS[4], body=JPEG, tags={"UserId": "zoe"})
    env.put_image("skip.png", tags={"UserId": "a", "Indexed": "true"})
    env.put_image("bad.png", body=b"GIF89a", tags={"UserId": "a"})
    tasks = [
        batch_task(s3_encoded(HOSTILE_KEYS[4]), task_id="queued"),
        batch_task("skip.png", task_id="skipped"),
        batch_task("bad.png", task_id="invalid"),
        batch_task("gone.png", task_id="missing"),
        batch_task("notes.txt", task_id="suffix"),
        {"taskId": "broken", "s3Bucket": "qualifier-images"},
    ]
    response = app.handler(batch_event(tasks), FakeContext())
    results = {r["taskId"]: (r["resultCode"], r["resultString"].split(":")[0]) for r in response["results"]}
    assert results == {
        "queued": ("Succeeded", "queued"),
        "skipped": ("Succeeded", "skipped"),
        "invalid": ("PermanentFailure", "invalid"),
        "missing": ("PermanentFailure", "missing"),
        "suffix": ("Succeeded", "skipped"),
        "broken": ("PermanentFailure", "error"),
    }
    assert _metrics(capsys.readouterr().out) == {
        "Queued": 1,
        "Skipped": 2,
        "Invalid": 1,
        "Missing": 1,
        "Error": 1,
    }


def test_reindex_run_argument_reaches_the_message(monkeypatch, env):
    app = _cold_start(monkeypatch, env)
    env.put_image("r.png", tags={"UserId": "a", "Indexed": "True"})
    event = batch_event([batch_task("r.png")], user_arguments={"runId": "rerun-1", "mode": "reindex"})
    assert app.handler(event, FakeContext())["results"][0]["resultString"] == "queued"
    (body,) = env.queued_messages()
    assert (body["mode"], body["run_id"]) == ("reindex", "rerun-1")


def test_a_custom_provider_is_chosen_by_environment(monkeypatch, env):
    app = _cold_start(
        monkeypatch,
        env,
        REGISTRATION_PROVIDER="qualifier_custom_provider:FolderProvider",
        REGISTRATION_PROVIDER_CONFIG='{"prefix": "people/"}',
    )
    env.put_image("people/carol/1.png")
    response = app.handler(batch_event([batch_task("people/carol/1.png")]), FakeContext())
    assert response["results"][0]["resultString"] == "queued"
    assert env.queued_messages()[0]["user_id"] == "carol"


def test_a_wrong_provider_fails_the_cold_start(monkeypatch, env):
    with pytest.raises(ProviderConfigError, match="cannot import module 'nowhere'"):
        _cold_start(monkeypatch, env, REGISTRATION_PROVIDER="nowhere:Provider")
