"""Each setting is declared once: the component writes exactly the variables its function's settings model
declares, the handler reads nothing else, a variable's name is written once in the source, and the generated
reference tables (README, docs/) match the models."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from infra_harness import REPO, env_of, run_main, stack_config

from components.reference import ENV_TABLE_PAGES, FUNCTION_SETTINGS, env_table_block, function_env_table
from handlers.common.shared_settings import PowertoolsSettings

LOGICAL_NAMES = {
    "inventory_created": "inventory-inventory-created",
    "batch_qualifier": "qualifier-function",
    "throttled_indexer": "indexer-function",
}
HTTP_API_KEY = {
    "throttledIndexer": {
        "gateway": "http",
        "gatewayUrl": "https://userportal.example.com/api",
        "gatewayAuth": "api-key",
        "gatewayApiKeySecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:portal-key-AbCdEf",
        "gatewayRatePerSecond": 2,
        "maxConcurrency": 2,
        "quarantineBucket": "photo-quarantine",
    }
}
STACKS = {
    "dev": lambda: run_main(stack_config("dev"), "dev"),
    "prod": lambda: run_main(stack_config("prod"), "prod"),
    "http-api-key": lambda: run_main(HTTP_API_KEY),
}
# Variables handler code reads that no component writes: Lambda's and the SDKs' own, not settings.
PLATFORM_READS = {
    Path("handlers/common/aws.py"): {"AWS_MAX_ATTEMPTS", "AWS_ENDPOINT_URL"},  # botocore's retry / endpoint
    Path("handlers/inventory_created/reader.py"): {"ARROW_DEFAULT_MEMORY_POOL"},  # pyarrow's allocator
}
SOURCE_ROOTS = ("components", "handlers", "offline")


def _declared(model) -> dict[str, str]:
    """Environment variable -> field, for a model and the Powertools variables every component writes."""
    names = {env: field for field, env in model.env_names().items()}
    return {**names, **{env: field for field, env in PowertoolsSettings.env_names().items()}}


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack_run(request):
    return STACKS[request.param]()


@pytest.mark.parametrize("function", sorted(FUNCTION_SETTINGS))
def test_the_component_writes_exactly_what_the_model_declares(stack_run, function):
    model = FUNCTION_SETTINGS[function]
    env = env_of(stack_run, LOGICAL_NAMES[function])
    declared = _declared(model)
    assert set(env) <= set(declared), f"undeclared variables: {sorted(set(env) - set(declared))}"
    # What is left out is an optional setting without a value (e.g. no quarantine bucket), nothing else.
    fields = {**model.model_fields, **PowertoolsSettings.model_fields}
    left_out = {
        name
        for name in set(declared) - set(env)
        if fields[declared[name]].get_default(call_default_factory=True) not in (None, {})
    }
    assert not left_out, f"declared settings with a value the component did not write: {sorted(left_out)}"
    settings = model.from_env(env)
    # What the handler holds, written again by the model, reads back the same (the encoding round-trips).
    assert model.from_env(model.to_environment(settings.model_dump())) == settings


def _env_reads(tree: ast.AST) -> list[ast.AST]:
    """`os.environ` / `os.getenv` / `environ.get(...)` uses."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            found.append(node)
    return found


def test_handlers_read_the_environment_only_through_their_settings_models():
    offenders = []
    for path in sorted((REPO / "handlers").rglob("*.py")):
        relative = path.relative_to(REPO)
        if relative == Path("handlers/common/settings_model.py"):
            continue  # EnvSettings.from_env: the one place that reads a function's settings
        source = path.read_text()
        reads = _env_reads(ast.parse(source))
        if not reads:
            continue
        allowed = PLATFORM_READS.get(relative)
        names = set(re.findall(r"""environ\.get\(\s*["']([A-Z0-9_]+)""", source))
        if allowed is None or not names or not names <= allowed or len(names) != len(reads):
            offenders.append(
                f"{relative}: reads {sorted(names) or 'the environment'} outside a settings model"
            )
    assert not offenders, "\n".join(offenders)


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_an_environment_variable_name_is_written_once_in_the_source():
    """Its declaration (`setting(env=...)`) is the only literal; code elsewhere takes the name from the model.
    (Prose that mentions a variable, in a docstring or an error message, is not a literal of its name.)"""
    names = set()
    for model in (*FUNCTION_SETTINGS.values(), PowertoolsSettings):
        names |= set(model.env_names().values())
    files = [REPO / "__main__.py"] + [p for root in SOURCE_ROOTS for p in sorted((REPO / root).rglob("*.py"))]
    seen: dict[str, list[str]] = {name: [] for name in names}
    for path in files:
        for line, value in _string_constants(path):
            if value in seen:
                seen[value].append(f"{path.relative_to(REPO)}:{line}")
    assert all(seen.values()), f"never declared: {[n for n, where in seen.items() if not where]}"
    twice = {name: where for name, where in seen.items() if len(where) > 1}
    assert not twice, f"written more than once: {twice}"


@pytest.mark.parametrize("function", sorted(ENV_TABLE_PAGES))
def test_docs_env_table_is_generated_from_the_model(function):
    text = (REPO / "docs" / ENV_TABLE_PAGES[function]).read_text()
    start, end = env_table_block(text, function)
    assert text[start:end].strip() == function_env_table(function), (
        f"docs/{ENV_TABLE_PAGES[function]} env table is stale: run `python -m components.reference --write`"
    )
    for name in _declared(FUNCTION_SETTINGS[function]):
        assert f"| `{name}` |" in text[start:end]
