"""Harness: run the Pulumi program (or a component) under recording mocks, fresh loop and runtime per run.

Follows Pulumi's unit-testing guide: `pulumi.runtime.set_mocks` with mocks that return plausible ids/ARNs, the
stack config set from the stack file, the program run to completion, then assertions on the recorded inputs.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.resource import collapse_alias_to_urn
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import Stack

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
PROJECT = "bulk-loader"


@dataclass
class Recorded:
    """One resource registration seen by the mocks (inputs exactly as the program sent them)."""

    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class Run:
    """Everything a program run registered, plus its stack exports."""

    resources: list[Recorded] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    """Logical name -> logical names of the resources in its `depends_on` option."""
    parents: dict[str, str | None] = field(default_factory=dict)
    """Logical name -> logical name of its parent (None for the stack's direct children)."""
    aliases: dict[str, list[Any]] = field(default_factory=dict)
    """Logical name -> the URNs its `aliases` option says it had before (resolved after the run)."""

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_contains: str = "") -> Recorded:
        found = [r for r in self.of_type(typ) if name_contains in r.name]
        assert len(found) == 1, f"expected one {typ} named *{name_contains}*, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, got {len(found)}"
        return found[0]

    def by_output(self, key: str, value: Any) -> Recorded:
        found = [r for r in self.resources if r.outputs.get(key) == value]
        assert len(found) == 1, f"expected one resource with {key}={value!r}, got {[r.name for r in found]}"
        return found[0]


def _physical(name: str) -> str:
    return f"{name}-1a2b3c"[:64]


class RecordingMocks(pulumi.runtime.Mocks):
    """Returns the ids/ARNs AWS would; records every registration in `run`."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        out = dict(inputs)
        t, n = args.typ, args.name
        arn_prefix = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:"
        rid = f"{n}-id"
        if t == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or _physical(n)
            out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", id=bucket)
            rid = bucket
        elif t == "aws:sqs/queue:Queue":
            qname = inputs.get("name") or _physical(n)
            url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{qname}"
            out.update(name=qname, arn=arn_prefix.format("sqs") + qname, url=url)
            rid = url
        elif t == "aws:sns/topic:Topic":
            tname = inputs.get("name") or _physical(n)
            out.update(name=tname, arn=arn_prefix.format("sns") + tname)
            rid = out["arn"]
        elif t == "aws:lambda/function:Function":
            fname = inputs.get("name") or _physical(n)
            out.update(name=fname, arn=arn_prefix.format("lambda") + f"function:{fname}")
            rid = fname
        elif t == "aws:lambda/layerVersion:LayerVersion":
            out.update(arn=arn_prefix.format("lambda") + f"layer:{inputs.get('layerName', n)}:1")
        elif t == "aws:iam/role:Role":
            rname = inputs.get("name") or _physical(n)
            out.update(name=rname, arn=f"arn:aws:iam::{ACCOUNT}:role/{rname}")
            rid = rname
        elif t == "aws:dynamodb/table:Table":
            tname = inputs.get("name") or _physical(n)
            out.update(name=tname, arn=arn_prefix.format("dynamodb") + f"table/{tname}")
            rid = tname
        elif t == "aws:kms/key:Key":
            out.update(arn=arn_prefix.format("kms") + f"key/{n}", keyId=n)
        elif t == "aws:cloudwatch/eventRule:EventRule":
            rname = inputs.get("name") or _physical(n)
            out.update(name=rname, arn=arn_prefix.format("events") + f"rule/{rname}")
        elif t == "aws:cloudwatch/logGroup:LogGroup":
            lname = inputs.get("name") or _physical(n)
            out.update(name=lname, arn=arn_prefix.format("logs") + f"log-group:{lname}")
        elif t == "aws:rekognition/collection:Collection":
            out.update(arn=arn_prefix.format("rekognition") + f"collection/{inputs.get('collectionId')}")
        elif t == "aws:cloudwatch/metricAlarm:MetricAlarm":
            out.update(arn=arn_prefix.format("cloudwatch") + f"alarm:{_physical(n)}")
        self.run.resources.append(Recorded(t, n, inputs, out))
        return rid, out

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.run.calls.append(args.token)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/test",
                "userId": "test",
                "id": ACCOUNT,
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        raise NotImplementedError(f"no mock for {args.token}")


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml, values as Pulumi hands them over (objects as JSON)."""
    data = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text()) or {}
    return data.get("config") or {}


def _as_pulumi_config(config: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in config.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out


def run_pulumi(program: Callable[[], Any], config: dict[str, Any] | None = None, stack: str = "test") -> Run:
    """Run `program` under fresh mocks, a fresh event loop and the given `bulk-loader:*` config."""
    run = Run()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _forget_pending_work()
    try:
        pulumi_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(RecordingMocks(run), project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config(_as_pulumi_config(config or {}))
        pulumi.runtime.register_stack_transformation(_record_options(run))
        program()
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        for name, urns in run.aliases.items():
            run.aliases[name] = [loop.run_until_complete(pulumi.Output.from_input(u).future()) for u in urns]
        root = pulumi_settings.get_root_resource()
        for key, value in (getattr(root, "outputs", None) or {}).items():
            run.exports[key] = loop.run_until_complete(pulumi.Output.from_input(value).future())
    finally:
        pulumi.runtime.set_all_config({})
        pulumi_settings.ROOT.set(None)
        _forget_pending_work()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.close()
        asyncio.set_event_loop(None)
    return run


def _forget_pending_work() -> None:
    """Drop RPCs/outputs a failed run left behind: they belong to a closed loop and would hang later runs."""
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()


def _record_options(run: Run):
    """A stack transformation recording each resource's parent and depends_on (the mocks never see them)."""

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts or pulumi.ResourceOptions()
        deps = opts.depends_on or []
        deps = deps if isinstance(deps, list) else [deps]
        run.depends_on[args.name] = [d._name for d in deps if isinstance(d, pulumi.Resource)]
        parent = opts.parent
        run.parents[args.name] = None if parent is None or isinstance(parent, Stack) else parent._name
        if opts.aliases:
            run.aliases[args.name] = [
                collapse_alias_to_urn(alias, args.name, args.type_, parent) for alias in opts.aliases
            ]
        return None

    return record


def run_main(config: dict[str, Any], stack: str = "test") -> Run:
    """Run the repo's __main__.py with this config."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return run_pulumi(lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__pulumi__"), config, stack)


def statements(recorded: Recorded, key: str = "policy") -> list[dict[str, Any]]:
    """The statements of a recorded policy document input (JSON text)."""
    return json.loads(recorded.inputs[key])["Statement"]


def statement(recorded: Recorded, sid: str, key: str = "policy") -> dict[str, Any]:
    found = [s for s in statements(recorded, key) if s.get("Sid") == sid]
    assert len(found) == 1, (
        f"{recorded.name}: expected one statement {sid}, "
        f"got {[s.get('Sid') for s in statements(recorded, key)]}"
    )
    return found[0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def env_of(run: Run, function_logical_name: str) -> dict[str, str]:
    return run.named(function_logical_name).inputs["environment"]["variables"]


def role_policy_for_function(run: Run, function_logical_name: str) -> Recorded:
    """The ONE inline policy of the role the function runs as."""
    role_name = run.named(function_logical_name).inputs["role"].rsplit("/", 1)[-1]
    role = run.by_output("name", role_name)
    policies = [
        r for r in run.of_type("aws:iam/rolePolicy:RolePolicy") if r.inputs["role"] == role.outputs["name"]
    ]
    assert len(policies) == 1, f"{role.name}: expected ONE inline policy, got {len(policies)}"
    return policies[0]


def component_args(args_type: type, **values: Any) -> Any:
    """A component's Args from flat keyword values: a name of its stack section's fields goes into
    `settings`, of SharedSettings into `shared`, `image_bucket_<field>` into `image_bucket`; a name of an
    Args field and the rest are wiring inputs. (The sections validate what they get, as from a stack file.)"""
    from dataclasses import fields

    own = {f.name for f in fields(args_type)}
    models = {f.name: type(f.default_factory()) for f in fields(args_type) if callable(f.default_factory)}
    grouped: dict[str, dict[str, Any]] = {name: {} for name in models}
    wiring = {}
    for key, value in values.items():
        target = next(
            (
                (group, key.removeprefix(f"{group}_"))
                for group, model in models.items()
                if key.removeprefix(f"{group}_") in model.model_fields
                and (group != "image_bucket" or key.startswith("image_bucket_"))
            ),
            None,
        )
        if target is None or key in own:
            wiring[key] = value
        else:
            grouped[target[0]][target[1]] = value
    return args_type(**wiring, **{group: models[group](**kw) for group, kw in grouped.items()})
