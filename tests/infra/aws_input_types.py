"""Check recorded resource inputs against the input types the installed pulumi-aws declares.

Pulumi's mocks accept any property name, so a typo in a nested dict key (`expirationx` in a lifecycle rule)
would reach AWS untested. The pulumi-aws wheel ships no provider schema (only `pulumi-plugin.json`), but its
Python SDK carries the same information: every resource has a `<Resource>Args` input type whose property
getters name the Pulumi (camelCase) property and declare its type, with nested blocks as further input types
and enums as `Enum` classes. The SDK translates the snake_case keys of nested dicts into those camelCase names
when it serialises them, and passes a key it does not know through unchanged, so the mocks record exactly
what the engine would send: a recorded key that is not a declared Pulumi name is a key the provider ignores or
rejects.

Checked, at every depth: property names, required properties, enum values where the SDK declares an enum.
Scalar types are not: the harness's mocks echo inputs as outputs, and the SDK already rejects an output of the
wrong type when it reads them back.
"""

from __future__ import annotations

import difflib
import enum
import functools
import importlib
import types
import typing
from collections import abc
from typing import Any

import pulumi
from pulumi import _types as pulumi_types

# Type tokens that name no pulumi-aws resource: this repo's components and explicit providers.
_NOT_AWS_RESOURCES = ("bulkloader:", "pulumi:providers:")


def args_class(type_token: str) -> type:
    """The input type of a pulumi-aws resource token: `aws:s3/bucket:Bucket` -> `pulumi_aws.s3.BucketArgs`."""
    package, module_path, class_name = type_token.split(":")
    if package != "aws":
        raise LookupError(f"{type_token}: not a pulumi-aws resource")
    module = module_path.split("/", 1)[0]
    # A Python keyword gets a trailing underscore (`lambda` -> `pulumi_aws.lambda_`); `index` is the root.
    candidates = ["pulumi_aws"] if module == "index" else [f"pulumi_aws.{module}", f"pulumi_aws.{module}_"]
    for name in candidates:
        try:
            python_module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        resource = getattr(python_module, class_name, None)
        if not (isinstance(resource, type) and issubclass(resource, pulumi.CustomResource)):
            continue
        # The one input type the resource's own module exports: its name is `<Resource>Args`, or
        # `<Resource>InitArgs` where a nested block already has that name (`s3.BucketVersioningArgs` is the
        # legacy Bucket block, the resource's args are `BucketVersioningInitArgs`).
        resource_module = importlib.import_module(resource.__module__)
        exported = [getattr(resource_module, name) for name in getattr(resource_module, "__all__", ())]
        found = [cls for cls in exported if isinstance(cls, type) and pulumi_types.is_input_type(cls)]
        if len(found) == 1:
            return found[0]
    raise LookupError(
        f"{type_token}: no resource {class_name} with one input type in {' or '.join(candidates)}"
    )


def is_aws_resource(type_token: str) -> bool:
    return not type_token.startswith(_NOT_AWS_RESOURCES)


@functools.cache
def declared_properties(input_type: type) -> dict[str, Any]:
    """Pulumi (camelCase) property name -> declared type hint (still wrapped in Input/Optional)."""
    module_globals = vars(importlib.import_module(input_type.__module__))
    # `pulumi.Input` is `Union[T, Awaitable[T], 'Output[T]']`: its forward reference needs Output (and a T).
    local_names = {"Output": pulumi.Output, "T": type(None)}
    hints: dict[str, Any] = {}
    for base in reversed(input_type.__mro__):
        for attribute in vars(base).values():
            pulumi_name = getattr(getattr(attribute, "fget", None), "_pulumi_name", None)
            if isinstance(attribute, property) and pulumi_name is not None:
                hint = typing.get_type_hints(attribute.fget, globalns=module_globals, localns=local_names)
                hints[pulumi_name] = hint["return"]
    if not hints:
        raise LookupError(f"{input_type.__qualname__}: no Pulumi property getters found")
    return hints


def _admits_none(hint: Any) -> bool:
    return any(arg is type(None) for arg in _union_members(hint))


def _union_members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(member for arg in typing.get_args(hint) for member in _union_members(arg))
    return (hint,)


def _value_types(hint: Any) -> list[Any]:
    """The types a plain (resolved) value may have under `hint`: Input/Awaitable/Output/None unwrapped."""
    found: list[Any] = []
    for member in _union_members(hint):
        origin = typing.get_origin(member)
        if member is type(None) or origin in (abc.Awaitable, typing.Awaitable):
            continue
        if origin is pulumi.Output:
            found.extend(_value_types(typing.get_args(member)[0]))
        elif member not in found:
            found.append(member)
    return found


def check_resource(type_token: str, inputs: dict[str, Any], where: str) -> list[str]:
    """Every mismatch between a resource's recorded inputs and its pulumi-aws input type, one line each."""
    return _check_object(inputs, args_class(type_token), where)


def _check_object(value: Any, input_type: type, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({input_type.__name__}), got {type(value).__name__} {value!r}"]
    declared = declared_properties(input_type)
    errors: list[str] = []
    for key, item in value.items():
        if key not in declared:
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{path}.{key}: no such property in {input_type.__name__}{hint}")
        elif item is not None:
            errors.extend(_check_value(item, declared[key], f"{path}.{key}"))
    for name, hint in declared.items():
        if not _admits_none(hint) and value.get(name) is None:
            errors.append(f"{path}.{name}: required by {input_type.__name__}, missing")
    return errors


def _check_value(value: Any, hint: Any, path: str) -> list[str]:
    candidates = _value_types(hint)
    enums = [c for c in candidates if isinstance(c, type) and issubclass(c, enum.Enum)]
    if enums and not isinstance(value, dict | list):
        # `Input[str | Runtime]`: the SDK takes any string so a new AWS value needs no SDK release, but the
        # enum is what it declares today; a value outside it is a typo until the SDK learns it.
        candidates = enums
    if not candidates:
        return []
    attempts = [_check_against(value, candidate, path) for candidate in candidates]
    if any(not errors for errors in attempts):
        return []
    return attempts[0]


def _check_against(value: Any, typ: Any, path: str) -> list[str]:
    origin = typing.get_origin(typ)
    if isinstance(typ, type) and pulumi_types.is_input_type(typ):
        return _check_object(value, typ, path)
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        allowed = [member.value for member in typ]
        if value in allowed:
            return []
        return [f"{path}: {value!r} is not one of {typ.__name__} {allowed}"]
    if origin in (list, abc.Sequence, typing.Sequence) and not isinstance(value, str):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__} {value!r}"]
        (item_hint,) = typing.get_args(typ) or (Any,)
        return [
            error for i, item in enumerate(value) for error in _check_value(item, item_hint, f"{path}[{i}]")
        ]
    if origin in (dict, abc.Mapping, typing.Mapping):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__} {value!r}"]
        _, item_hint = typing.get_args(typ) or (str, Any)
        return [
            error
            for key, item in value.items()
            for error in _check_value(item, item_hint, f"{path}[{key!r}]")
        ]
    return []
