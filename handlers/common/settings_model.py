"""One declaration per setting: a pydantic model whose fields are a function's environment variables.

A field's alias is its environment variable, its description the one-line doc, its annotation and `Field`
constraints the type and bounds. The handler parses its environment with `from_env` (errors name the
variable); the component writes the environment with `to_environment` (values may be Pulumi Outputs for
wiring fields such as a table name); components/config.py builds the stack sections from the same fields,
and the docs' environment tables are generated from them (`env_table`).
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the text names it."""


def setting(default: Any = ..., *, env: str, doc: str, expect: str | None = None, **constraints: Any) -> Any:
    """A field read from environment variable `env`. `expect` replaces the generic "must be ..." wording."""
    extra: JsonDict | None = {"expect": expect} if expect else None
    return Field(default, alias=env, description=doc, json_schema_extra=extra, **constraints)


def _core(annotation: Any) -> Any:
    """The annotation without `| None` and `Annotated[...]`."""
    while True:
        if get_origin(annotation) in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not NoneType]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        elif hasattr(annotation, "__metadata__"):
            annotation = annotation.__origin__
        else:
            return annotation


def _kind(info: FieldInfo) -> str:
    core = _core(info.annotation)
    origin = get_origin(core)
    if origin is tuple:
        return "list"
    if core is dict or origin is dict:
        return "json"
    if core is bool:
        return "bool"
    return "text"


def encode(info: FieldInfo, value: Any) -> Any:
    """The environment text of a value (a Pulumi Output passes through: wiring fields are plain text)."""
    kind = _kind(info)
    if kind == "list":
        return ",".join(value)
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    if kind == "bool":
        return "true" if value else "false"
    return value if not isinstance(value, int | float) else str(value)


def _decode(info: FieldInfo, raw: str) -> Any:
    kind = _kind(info)
    if kind == "list":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    low = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    return low, high


def _expect(info: FieldInfo) -> str | None:
    extra = info.json_schema_extra
    return extra.get("expect") if isinstance(extra, dict) else None  # type: ignore[return-value]


def _missing(info: FieldInfo, name: str) -> str:
    expect = _expect(info)
    if expect:
        return f"environment variable {name} must be {expect}; it is not set"
    return f"environment variable {name} is required and is not set ({info.description})"


def _problem(info: FieldInfo, error: Mapping[str, Any]) -> str:
    """What is wrong, in the words "must be ...", for one pydantic error of one field."""
    expect = _expect(info)
    kind = error["type"]
    if expect:
        return f"must be {expect}"
    low, high = _bounds(info)
    if kind in ("greater_than_equal", "less_than_equal"):
        return (
            f"must be between {low} and {high}"
            if low is not None and high is not None
            else (f"must be >= {low}" if kind == "greater_than_equal" else f"must be <= {high}")
        )
    if kind in ("int_parsing", "int_from_float"):
        return "must be an integer"
    if kind == "float_parsing":
        return "must be a number"
    if kind == "bool_parsing":
        return "must be true or false"
    if kind == "literal_error":
        return "must be one of " + ", ".join(repr(a) for a in get_args(_core(info.annotation)))
    if kind == "too_short":
        return "lists nothing"
    return error["msg"].removeprefix("Value error, ")


@dataclass(frozen=True)
class Rule:
    """A rule between settings, written once for the handler's variables and the stack's keys alike."""

    fields: tuple[str, ...]
    """The settings the message is about (field names)."""
    text: str
    """What is wrong; `{field}` placeholders name other settings in the reader's terms."""
    broken: Callable[[Any], Any]
    """True when `values` (anything with the fields as attributes) break the rule."""


def broken_rules(
    rules: Sequence[Rule], values: Any, label: Callable[[str], str], subject: str = "{fields} is {text}"
) -> list[str]:
    """The message of every broken rule; `label(field)` names a setting (env variable or stack key)."""
    problems = []
    for rule in rules:
        if rule.broken(values):
            names = {field: label(field) for field in _placeholders(rule.text)}
            text = rule.text.format(**names)
            problems.append(subject.format(fields="/".join(label(f) for f in rule.fields), text=text))
    return problems


def _placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


class EnvSettings(BaseModel):
    """Base of every function's settings model (fields declared with `setting(...)`)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    error: ClassVar[type[Exception]] = SettingsError
    """The exception `from_env` raises (a function may use its own subclass family)."""

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> environment variable, for every declared setting."""
        return {name: info.alias or name.upper() for name, info in cls.model_fields.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None):
        """Parse an environment (default: the process's). A blank variable counts as unset."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            value = env.get(info.alias or name, "").strip()
            if value:
                raw[name] = _decode(info, value)
        try:
            return cls.model_validate(raw)
        except ValidationError as failure:
            raise cls.error(cls._describe(failure, env)) from None

    @classmethod
    def _describe(cls, failure: ValidationError, env: Mapping[str, str]) -> str:
        fields = {info.alias or name: info for name, info in cls.model_fields.items()}
        fields.update(cls.model_fields)
        lines = []
        for item in failure.errors(include_url=False):
            if not item["loc"]:  # a cross-field rule: its message names the variables itself
                lines.append(item["msg"].removeprefix("Value error, "))
                continue
            info = fields[str(item["loc"][0])]
            name = info.alias or str(item["loc"][0])
            if item["type"] == "missing":
                lines.append(_missing(info, name))
                continue
            problem = _problem(info, item)
            got = "" if "got " in problem else f", got {env.get(name)!r}"
            lines.append(f"environment variable {name} {problem}{got}")
        return "; ".join(lines)

    def unset(self, *fields: str) -> list[str]:
        """A problem for each of `fields` that has no value (for a rule that makes an optional setting
        required), worded as `from_env` words a missing variable."""
        infos = type(self).model_fields
        return [
            _missing(infos[name], infos[name].alias or name) for name in fields if getattr(self, name) is None
        ]

    @classmethod
    def to_environment(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The environment for `values` (field name -> value, Outputs allowed) over the declared defaults;
        a setting whose value is None is left out. Every key must be a declared field."""
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"{cls.__name__}.to_environment: no setting(s) {unknown}")
        environment = {}
        for name, info in cls.model_fields.items():
            value = values[name] if name in values else info.get_default(call_default_factory=True)
            if value is not None and value is not ...:
                environment[info.alias or name] = encode(info, value)
        return environment


def env_table(*models: type[EnvSettings]) -> str:
    """A markdown table of the models' environment variables (docs/<function>.md; a test keeps it in sync)."""
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for model in models:
        for name, info in model.model_fields.items():
            default = info.get_default(call_default_factory=True)
            shown = (
                "required"
                if info.is_required()
                else ""
                if default in (None, {})
                else f"`{encode(info, default)}`"
            )
            low, high = _bounds(info)
            bounds = f" ({low}-{high})" if low is not None and high is not None else ""
            bounds = bounds or (f" (>= {low})" if low is not None else "")
            meaning = " ".join((info.description or "").split()).replace("|", "/")
            lines.append(
                f"| `{info.alias or name}` | {_short_type(info.annotation)}{bounds} | {shown} | {meaning} |"
            )
    return "\n".join(lines)


def _short_type(annotation: Any) -> str:
    core = _core(annotation)
    origin = get_origin(core)
    if origin is Literal:
        return " / ".join(f"`{a}`" for a in get_args(core))
    if origin is tuple:
        return "comma-separated list"
    if core is dict or origin is dict:
        return "JSON object"
    return {int: "integer", float: "number", bool: "`true` / `false`", str: "text"}.get(core, "text")
