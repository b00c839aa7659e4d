"""Deploy the project's Pulumi program into moto: `__main__.py` runs under Pulumi mocks whose hooks create
every resource for real (offline/resources) and hand back the real ids, ARNs, URLs and names.

Every wire between resources (environment variables, policies, subscriptions, mappings) is therefore the
program's own. A resource type the emulator cannot create is listed in `Deployment.not_created` (and printed),
never skipped silently.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor

from offline.deployment.deployed import Deployment
from offline.deployment.resources import CREATORS, CreateContext, CreatedResource, CreatorError

REPO_ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------- mocks
class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, ctx: CreateContext, not_created: list[dict[str, str]]) -> None:
        self.ctx = ctx
        self.not_created = not_created
        self.current_urn = threading.local()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        urn = getattr(self.current_urn, "value", "")
        if not args.custom or args.typ.startswith("pulumi:providers:"):
            # Component resources and providers exist only in Pulumi's model.
            return (f"{args.name}_id" if args.custom else None), dict(args.inputs)
        creator = CREATORS.get(args.typ)
        if creator is None:
            reason = "resource type not supported by the offline runtime"
            self._not_created(urn, args, reason)
            return f"{args.name}-not-created", dict(args.inputs)
        try:
            physical_id, outputs = creator(self.ctx, args.name, _unwrap_secrets(dict(args.inputs)))
        except CreatorError as exc:
            self._not_created(urn, args, str(exc))
            return f"{args.name}-not-created", dict(args.inputs)
        except Exception as exc:
            # A real provider would fail the deployment here: so do we, naming the resource.
            raise CreatorError(f"creating {args.typ} {args.name!r} in the emulator failed: {exc}") from exc
        extra: dict[str, Any] = {}
        if args.typ == "aws:lambda/function:Function":
            extra = {
                "code_dir": str(self.ctx.workdir / "functions" / outputs["name"] / "code"),
                "deps_from_venv": _deps_from_venv(self.ctx, outputs["name"]),
            }
        with self.ctx.lock:
            self.ctx.resources.append(
                CreatedResource(
                    urn=urn,
                    type=args.typ,
                    name=args.name,
                    id=physical_id,
                    inputs=dict(args.inputs),
                    outputs=outputs,
                    extra=extra,
                )
            )
        return physical_id, outputs

    def _not_created(self, urn: str, args: pulumi.runtime.MockResourceArgs, reason: str) -> None:
        entry = {"urn": urn, "type": args.typ, "name": args.name, "reason": reason}
        with self.ctx.lock:
            self.not_created.append(entry)
        print(f"offline deploy: NOT CREATED {args.typ} {args.name}: {reason}", file=sys.stderr)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        ctx = self.ctx
        data_source = args.token
        if data_source == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ctx.account_id,
                "arn": f"arn:aws:iam::{ctx.account_id}:user/offline-admin",
                "userId": "AIDAOFFLINEADMIN",
                "id": ctx.account_id,
            }, []
        if data_source == "aws:index/getRegion:getRegion":
            return {
                "name": ctx.region,
                "region": ctx.region,
                "id": ctx.region,
                "endpoint": f"ec2.{ctx.region}.amazonaws.com",
                "description": ctx.region,
            }, []
        if data_source == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if data_source == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = render_policy_document(args.args)
            return {"json": document, "minifiedJson": document, "id": str(abs(hash(document)))}, []
        raise CreatorError(f"data source {data_source} is not supported by the offline runtime")


# Pulumi's wire markers for secret values (not secrets themselves).
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105
_SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105


def _unwrap_secrets(value: Any) -> Any:
    """Secret inputs reach the mocks in Pulumi's secret envelope; the emulator needs the plain value."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return _unwrap_secrets(value.get("value"))
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _deps_from_venv(ctx: CreateContext, function_name: str) -> list[str]:
    marker = ctx.workdir / "functions" / function_name / "deps_from_venv.json"
    return json.loads(marker.read_text()) if marker.exists() else []


def render_policy_document(args: dict[str, Any]) -> str:
    """What aws.iam.get_policy_document renders, for the statement fields programs use."""
    statements = []
    for statement in args.get("statements") or []:
        out: dict[str, Any] = {}
        if statement.get("sid"):
            out["Sid"] = statement["sid"]
        out["Effect"] = statement.get("effect", "Allow")
        for key, aws_key in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            values = statement.get(key)
            if values:
                out[aws_key] = values[0] if len(values) == 1 else sorted(values)
        for key, aws_key in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            principals = statement.get(key)
            if principals:
                block: dict[str, Any] = {}
                for principal in principals:
                    ids = principal["identifiers"]
                    block[principal["type"]] = ids[0] if len(ids) == 1 else sorted(ids)
                out[aws_key] = "*" if block == {"*": "*"} else block
        conditions = statement.get("conditions")
        if conditions:
            block = {}
            for condition in conditions:
                values = condition["values"]
                block.setdefault(condition["test"], {})[condition["variable"]] = (
                    values[0] if len(values) == 1 else values
                )
            out["Condition"] = block
        statements.append(out)
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    return json.dumps(document, indent=2)


class _RecordingMonitor(MockMonitor):
    """The mock monitor, telling the mocks the URN of the resource being registered."""

    def __init__(self, mocks: _Mocks) -> None:
        super().__init__(mocks)
        self._offline_mocks = mocks

    def RegisterResource(self, request):
        self._offline_mocks.current_urn.value = self.make_urn(request.parent, request.type, request.name)
        return super().RegisterResource(request)


# ---------------------------------------------------------------------------------------------- program
def read_stack_config(
    program_dir: Path, stack: str, overrides: dict[str, Any] | None = None
) -> tuple[str, dict[str, str]]:
    """The project name and the stack's config as Pulumi hands it to the program (`ns:key` -> text)."""
    project_file = program_dir / "Pulumi.yaml"
    if not project_file.exists():
        raise FileNotFoundError(f"{project_file} not found: is {program_dir} a Pulumi project?")
    project = yaml.safe_load(project_file.read_text())["name"]
    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in program_dir.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(
            f"stack {stack!r}: {stack_file.name} not found (stacks: {', '.join(available)})"
        )
    raw = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{project}:{key}"
        existing = raw.get(full_key, raw.get(key))
        raw.pop(key, None)
        # An object override changes only the fields it names ({"throttledIndexer": {"gateway": "http"}}).
        raw[full_key] = _merged(existing, value)
    config: dict[str, str] = {}
    for key, value in raw.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ValueError(
                f"{stack_file.name}: {full_key} is an encrypted secret; offline stacks need plain values"
            )
        if isinstance(value, str):
            config[full_key] = value
        elif isinstance(value, bool):
            config[full_key] = "true" if value else "false"
        else:
            config[full_key] = json.dumps(value)
    return project, config


def deploy_program(
    ctx: CreateContext,
    stack: str = "dev",
    program_dir: Path = REPO_ROOT,
    config_overrides: dict[str, Any] | None = None,
    timeout_s: float = 300.0,
) -> Deployment:
    """Run the Pulumi program of `program_dir` for `stack`, creating its resources through `ctx`."""
    program_dir = Path(program_dir).resolve()
    project, config = read_stack_config(program_dir, stack, config_overrides)
    project_meta = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())
    main = program_dir / (project_meta.get("main") or "")
    main_file = main / "__main__.py" if main.is_dir() else main
    not_created: list[dict[str, str]] = []
    result: dict[str, Any] = {}
    ctx.program_dir = program_dir

    def run() -> None:
        # A fresh thread gives Pulumi's context variables (root stack, settings) a clean slate.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            mocks = _Mocks(ctx, not_created)
            pulumi.runtime.set_mocks(
                mocks, project=project, stack=stack, preview=False, monitor=_RecordingMonitor(mocks)
            )
            pulumi.runtime.set_all_config(config)
            from pulumi.runtime.stack import wait_for_rpcs

            async def program() -> dict[str, Any]:
                # Pulumi runs a program from its project directory, which is also where its imports resolve.
                added = str(program_dir) not in sys.path
                if added:
                    sys.path.insert(0, str(program_dir))
                previous_cwd = os.getcwd()
                os.chdir(program_dir)
                try:
                    runpy.run_path(str(main_file), run_name="__main__")
                    await wait_for_rpcs()
                finally:
                    os.chdir(previous_cwd)
                    if added:
                        sys.path.remove(str(program_dir))
                root = pulumi.runtime.get_root_resource()
                outputs = {}
                for name, value in (root.outputs if root is not None else {}).items():
                    outputs[name] = await _resolve(value)
                return outputs

            result["outputs"] = loop.run_until_complete(program())
        except BaseException as exc:
            result["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"offline-deploy-{stack}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"deploying stack {stack!r} did not finish within {timeout_s:.0f}s")
    if "error" in result:
        raise result["error"]
    return Deployment(
        stack=stack,
        project=project,
        outputs=result["outputs"],
        resources=list(ctx.resources),
        not_created=not_created,
        warnings=list(ctx.warnings),
    )


def _merged(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override


async def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return await _resolve(await value.future())
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _resolve(v) for v in value]
    if asyncio.isfuture(value) or asyncio.iscoroutine(value):
        return await _resolve(await value)
    return value
