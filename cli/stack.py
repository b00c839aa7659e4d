"""Which stack the command works on: its `pulumi stack output --json`, read from a file (`--outputs FILE`), or
run for (`pulumi stack output --json [--stack S]`), with explicit flags taking precedence over both.

The outputs are only read when a command needs a value no flag gave, so a command given every resource by flag
works without Pulumi.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError


@dataclass(frozen=True)
class Output:
    """One stack output the CLI reads: its name in `__main__.py`'s exports, the flag that overrides it, and
    the component that exports it (named in the error when a stack lacks it)."""

    name: str
    flag: str
    component: str
    help: str


OUTPUTS = (
    Output("queue_url", "--queue-url", "ThrottledIndexer", "URL of the indexer's input queue"),
    Output("dlq_url", "--dlq-url", "ThrottledIndexer", "URL of the indexer's dead-letter queue"),
    Output("history_table_name", "--history-table", "ThrottledIndexer", "name of the import-history table"),
    Output("image_bucket_name", "--image-bucket", "InventoryPipeline", "name of the image bucket"),
    Output(
        "inventory_bucket_name", "--inventory-bucket", "InventoryPipeline", "name of the inventory bucket"
    ),
    Output(
        "inventory_configuration_id",
        "--inventory-id",
        "InventoryPipeline",
        "id of the image bucket's S3 Inventory configuration",
    ),
    Output(
        "inventory_function_name",
        "--inventory-function",
        "InventoryPipeline",
        "the inventory_created function",
    ),
    Output(
        "inventory_failure_queue_url",
        "--inventory-failure-queue-url",
        "InventoryPipeline",
        "URL of the queue of failed asynchronous inventory invocations",
    ),
    Output(
        "batch_function_arn", "--batch-function-arn", "BatchQualifier", "ARN of the batch_qualifier function"
    ),
    Output("batch_role_arn", "--batch-role-arn", "InventoryPipeline", "ARN of the S3 Batch Operations role"),
    Output(
        "tag_events_queue_url",
        "--tag-events-queue-url",
        "BatchQualifier",
        "URL of the qualifier's tag-events queue (batchQualifier.tagEvents)",
    ),
    Output(
        "tag_events_dlq_url",
        "--tag-events-dlq-url",
        "BatchQualifier",
        "URL of the tag-events queue's dead-letter queue",
    ),
)
_BY_NAME = {o.name: o for o in OUTPUTS}
PULUMI_TIMEOUT_SECONDS = 120


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "stack",
        "where the stack's resources come from (flags win over outputs; default: `pulumi stack output`)",
    )
    group.add_argument("--outputs", metavar="FILE", help="JSON written by `pulumi stack output --json`")
    group.add_argument("--stack", metavar="S", help="the Pulumi stack to ask for its outputs")
    for output in OUTPUTS:
        group.add_argument(output.flag, dest=f"out_{output.name}", metavar="VALUE", help=output.help)


@dataclass
class StackOutputs:
    """The stack's outputs, read on first need; `require` names the flag and component when one is missing."""

    overrides: dict[str, str] = field(default_factory=dict)
    outputs_file: str | None = None
    stack: str | None = None
    _loaded: dict[str, Any] | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StackOutputs:
        overrides = {
            o.name: getattr(args, f"out_{o.name}")
            for o in OUTPUTS
            if getattr(args, f"out_{o.name}", None) not in (None, "")
        }
        return cls(overrides=overrides, outputs_file=args.outputs, stack=args.stack)

    def get(self, name: str) -> str | None:
        if name in self.overrides:
            return self.overrides[name]
        value = self._outputs().get(name)
        return None if value in (None, "") else str(value)

    def require(self, name: str, needed_for: str) -> str:
        value = self.get(name)
        if value is None:
            output = _BY_NAME[name]
            raise UsageError(
                f"{needed_for} needs the stack output {name!r}, which {self._source()} does not have "
                f"(it is exported by the {output.component} component; is it enabled in this stack?); "
                f"give it with {output.flag}"
            )
        return value

    def _source(self) -> str:
        if self.outputs_file:
            return f"the outputs file {self.outputs_file}"
        return f"stack {self.stack!r}" if self.stack else "the current Pulumi stack"

    def _outputs(self) -> dict[str, Any]:
        if self._loaded is None:
            self._loaded = (
                read_outputs_file(self.outputs_file) if self.outputs_file else run_pulumi(self.stack)
            )
        return self._loaded


def read_outputs_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise UsageError(
            f"outputs file {path} does not exist (write it with `pulumi stack output --json > {path}`)"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(
            f"outputs file {path} is not JSON ({exc}); expected `pulumi stack output --json`"
        ) from None
    return _checked(data, f"outputs file {path}")


def run_pulumi(stack: str | None) -> dict[str, Any]:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise UsageError(
            "the pulumi CLI is not on PATH, so the stack's outputs cannot be read: give --outputs FILE "
            "(from `pulumi stack output --json`) or the resource flags (see --help)"
        )
    command = [pulumi, "stack", "output", "--json", *(["--stack", stack] if stack else [])]
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command line; the stack name is one argument
            command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{' '.join(command)}` did not answer within {PULUMI_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise UsageError(f"`{' '.join(command)}` failed (exit {done.returncode}): {' / '.join(detail)}")
    try:
        data = json.loads(done.stdout)
    except ValueError as exc:
        raise UsageError(f"`{' '.join(command)}` printed something that is not JSON: {exc}") from None
    return _checked(data, "`pulumi stack output --json`")


def _checked(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError(f"{source} holds a JSON {type(data).__name__}, expected an object of output names")
    return data
