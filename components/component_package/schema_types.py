"""The component package's args types, derived from the components' Args and their stack sections.

Pulumi's analyzer infers the package schema from the TypedDict annotations of a component's `args` and reads
each property's doc from the docstring under it, in the class's source (`inspect.getsource` + `ast`). Writing
those TypedDicts by hand would declare every setting a second time; `derived_args` writes their source
instead, from the Args dataclasses (wiring inputs: type and docstring) and the section models (each pydantic
field's type, bounds, choices, default and description), runs it as the module `DERIVED_MODULE` and registers
the text with `linecache`, where `inspect.getsource` finds it as it finds any module's (the way dataclasses
and attrs make generated code inspectable). `core_args` is the way back: plain values from another language
-> the component's own Args, each section validated by its model.

What crosses the boundary: Pulumi inputs and plain values (str, int, float, bool, lists, string-keyed maps).
A pydantic union (gatewayRatePerSecond: a number or an object per API) has no schema type: it is `Any`, and
its model still validates it. A `Literal` is a string whose doc lists the choices.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import linecache
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.provider.experimental.analyzer import (
    Analyzer,
    is_input,
    is_optional,
    unwrap_input,
    unwrap_optional,
)
from pulumi.provider.experimental.util import camel_case
from pydantic import BaseModel, ValidationError

DERIVED_MODULE = f"{__name__.rsplit('.', 1)[0]}.derived"
_SOURCE_FILE = f"<{DERIVED_MODULE}: derived from the components' Args and stack sections>"

# Left out of the package, with the reason. Anything else that cannot cross the boundary is an error (below).
NOT_OFFERED: dict[str, str] = {
    "InventoryPipelineArgs.bucket_eventbridge_aliases": "earlier URNs of this repository's own stacks; a "
    "package user gives `aliases` in its resource options",
    # Stack composition (__main__.py): a package user creates a component or not, and wires existing
    # resources through the other components' args.
    "InventoryPipelineSettings.enabled": "stack composition",
    "BatchQualifierSettings.enabled": "stack composition",
    "BatchQualifierSettings.function_arn": "stack composition",
    "ThrottledIndexerSettings.enabled": "stack composition",
    "ThrottledIndexerSettings.queue_arn": "stack composition",
    "ThrottledIndexerSettings.queue_url": "stack composition",
    "ThrottledIndexerSettings.history_table_arn": "stack composition",
    "ThrottledIndexerSettings.enable_bucket_eventbridge": "stack composition (InventoryPipelineArgs."
    "bucket_eventbridge is the switch)",
}

_PLAIN = (str, int, float, bool)
_BOUNDS = (("ge", "at least"), ("gt", "above"), ("le", "at most"), ("lt", "below"))


class NotSerialisableError(TypeError):
    """An Args or section field whose type has no Pulumi schema type."""


def _source_fields(args_type: type) -> dict[str, Any]:
    return inspect.get_annotations(args_type, eval_str=True)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


class _Writer:
    """Writes the TypedDict source of one Args type and of the sections it holds (each section once)."""

    def __init__(self) -> None:
        self.classes: dict[str, str] = {}
        self._docs = Analyzer("bulkloader")  # the SDK's own docstring reader, for the dataclasses' fields

    def args_class(self, args_type: type) -> str:
        hints = _source_fields(args_type)
        body = []
        for field in dataclasses.fields(args_type):
            where = f"{args_type.__name__}.{field.name}"
            if where in NOT_OFFERED:
                continue
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            expr = self._wiring(hints[field.name], where)
            doc = self._docs.get_docstring(args_type, field.name) or ""
            body.append((field.name, f"Required[{expr}]" if required else f"NotRequired[{expr}]", doc))
        return self._write(args_type.__name__, args_type.__doc__ or "", body)

    def _wiring(self, annotation: Any, where: str) -> str:
        if is_input(annotation):
            return f"pulumi.Input[{self._setting(unwrap_input(annotation), where, [])}]"
        if is_optional(annotation):
            return self._wiring(unwrap_optional(annotation), where)
        if typing.get_origin(annotation) is tuple:
            return f"list[{self._wiring(typing.get_args(annotation)[0], where)}]"
        if model := _section_model(annotation):
            return self.section_class(model)
        return self._setting(annotation, where, [])

    def section_class(self, model: type[BaseModel]) -> str:
        if model.__name__ in self.classes:
            return model.__name__
        body = []
        for name, info in model.model_fields.items():
            where = f"{model.__name__}.{name}"
            if where in NOT_OFFERED:
                continue
            notes: list[str] = []
            annotated = (
                typing.Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
            expr = self._setting(annotated, where, notes)
            default = info.get_default(call_default_factory=True)
            if default is not None:
                notes.append(f"Default: `{json.dumps(default)}`.")
            body.append((name, f"NotRequired[{expr}]", " ".join([(info.description or "").strip(), *notes])))
        return self._write(model.__name__, model.__doc__ or "", body)

    def _setting(self, annotation: Any, where: str, notes: list[str]) -> str:
        """The schema-facing type of a plain value; its bounds and choices go into `notes`."""
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            for constraint in annotation.__metadata__:
                notes += [f"{word.capitalize()} {getattr(constraint, key)}." for key, word in _BOUNDS
                          if getattr(constraint, key, None) is not None]  # fmt: skip
            return self._setting(args[0], where, notes)
        if is_optional(annotation):
            return self._setting(unwrap_optional(annotation), where, notes)
        if origin is typing.Literal:
            notes.append("One of: " + ", ".join(f"`{choice}`" for choice in args) + ".")
            return type(args[0]).__name__
        if origin in (tuple, list):
            return f"list[{self._setting(args[0], where, notes)}]"
        if origin is dict and args[0] is str:
            return f"dict[str, {self._setting(args[1], where, [])}]"
        if origin in (typing.Union, types.UnionType):
            return "Any"  # its section model validates which member it is
        if annotation is Any:
            return "Any"
        if annotation in _PLAIN:
            return annotation.__name__
        raise NotSerialisableError(
            f"{where}: {annotation!r} has no Pulumi schema type; give it a serialisable type or add it to "
            f"{__name__}.NOT_OFFERED with the reason"
        )

    def _write(self, name: str, doc: str, body: list[tuple[str, str, str]]) -> str:
        lines = [f"class {name}(TypedDict, total=False):", f"    {inspect.cleandoc(doc)!r}"]
        for key, expr, text in body:
            lines += [f"    {key}: {expr}", f"    {inspect.cleandoc(text)!r}"]
        self.classes[name] = "\n".join(lines) + "\n"
        return name


def derived_args(*args_types: type) -> dict[type, type]:
    """The package-facing TypedDict of each Args dataclass (one module holding them and their sections)."""
    writer = _Writer()
    names = {args_type: writer.args_class(args_type) for args_type in args_types}
    header = "from typing import Any, NotRequired, Required, TypedDict\n\nimport pulumi\n\n\n"
    source = header + "\n\n".join(writer.classes.values())
    module = types.ModuleType(DERIVED_MODULE, "The component package's args types (schema_types).")
    module.__file__ = _SOURCE_FILE
    linecache.cache[_SOURCE_FILE] = (len(source), None, source.splitlines(keepends=True), _SOURCE_FILE)
    sys.modules[DERIVED_MODULE] = module
    # dont_inherit: without this module's `annotations` future, the annotations stay objects for the analyzer.
    code = compile(source, _SOURCE_FILE, "exec", dont_inherit=True)
    exec(code, module.__dict__)  # noqa: S102  (our own generated text)
    return {args_type: getattr(module, name) for args_type, name in names.items()}


def derived_source() -> str:
    """The text `derived_args` last ran (for reading what the package offers)."""
    return "".join(linecache.getlines(_SOURCE_FILE))


def _camel(path: tuple[Any, ...]) -> str:
    """A key path as the schema spells it (the SDK's camelCase, which the sections' aliases match)."""
    return ".".join(camel_case(part) if isinstance(part, str) else str(part) for part in path)


def _section(model: type[BaseModel], values: Mapping[str, Any], where: str) -> BaseModel:
    for key, value in values.items():
        if isinstance(value, pulumi.Output):
            raise ValueError(
                f"{where}.{_camel((key,))}: settings are plain values (they decide which resources exist), "
                "not outputs of other resources"
            )
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        problems = [
            f"{'.'.join(filter(None, (where, _camel(e['loc']))))}: {e['msg']}" for e in error.errors()
        ]
        raise ValueError("; ".join(problems)) from None


def core_args(args_type: type, values: Mapping[str, Any], component: str) -> Any:
    """`args_type` (a component's Args) from the plain values the package hands over, by Python name."""
    hints = _source_fields(args_type)
    built: dict[str, Any] = {}
    for field in dataclasses.fields(args_type):
        if field.name not in values:
            continue
        value, where = values[field.name], f"{component}.{_camel((field.name,))}"
        if model := _section_model(hints[field.name]):
            built[field.name] = _section(model, value or {}, where)
        elif typing.get_origin(hints[field.name]) is tuple:
            built[field.name] = tuple(value)
        else:
            built[field.name] = value
    return args_type(**built)
