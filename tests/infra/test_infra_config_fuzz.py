"""Property: whatever values a stack file holds, the config model either accepts them or raises ConfigError
whose every line names a `bulk-loader:` key (never a traceback from deep inside pydantic or the program)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, StackConfig, parse_config

SECTIONS = {
    info.alias or name: info.annotation
    for name, info in StackConfig.model_fields.items()
    if isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields")
}
FIELDS = {
    section: [f.alias or n for n, f in model.model_fields.items()] + ["notASetting"]
    for section, model in SECTIONS.items()
}
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10_000),
    st.sampled_from(
        ["", "true", "5", "arm64", "http", "https://api.example.com", "arn:aws:sqs:eu-west-1:1:q"]
    ),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def raw_configs(draw):
    raw = {}
    for section, fields in FIELDS.items():
        if draw(st.booleans()):
            raw[section] = draw(st.dictionaries(st.sampled_from(fields), values, max_size=4) | values)
    for key in ("imageSuffixes", "historyTtlDays", "unknownKey"):
        if draw(st.booleans()):
            raw[key] = draw(values)
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_configs())
# Found by this test: JSON text, not an object, escaped parse_config as the handler's ProviderConfigError.
@example({"batchQualifier": {"provider": None, "providerConfig": "00"}})
@example({"batchQualifier": {"providerConfig": "true"}})
def test_any_config_is_accepted_or_rejected_with_named_keys(raw):
    try:
        cfg = parse_config(raw)
    except ConfigError as error:
        lines = str(error).splitlines()
        assert lines[0] == "invalid stack configuration:"
        assert len(lines) > 1
        for line in lines[1:]:
            assert line.strip().startswith("bulk-loader:"), line
    else:
        assert isinstance(cfg, StackConfig)
        assert cfg.throttled_indexer.max_concurrency >= 2
        assert cfg.image_suffixes
