"""`bulk-loader`: parse the command line, run one subcommand, map how it ended to the exit status.

Exit status: 0 done; 1 something failed (an AWS call, a job, a message that could not be moved);
2 bad usage (arguments, the outputs file, a stack output the command needs, credentials), nothing changed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from . import history_cmd, import_cmd, redrive_cmd, reindex_cmd, session, stack, status_cmd
from .errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, UsageError
from .render import Printer
from .session import Aws
from .stack import StackOutputs

COMMANDS = (import_cmd, status_cmd, history_cmd, redrive_cmd, reindex_cmd)


@dataclass
class Context:
    """What every subcommand gets: the stack's outputs, AWS clients, the printer, a clock and a terminal."""

    stack: StackOutputs
    aws: Aws
    printer: Printer
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    sleep: Callable[[float], None] = time.sleep


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    stack.add_arguments(common)
    session.add_arguments(common)
    parser = argparse.ArgumentParser(
        prog="bulk-loader",
        description="Operate a bulk-loader import: start it, watch it, query its history, repair it.",
        epilog="Exit status: 0 done, 1 something failed, 2 bad usage. Runbook: README 'Operating'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands, common)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
    clients: dict[str, Any] | None = None,
) -> int:
    """Run one command. For tests and embedding programs: `stdin` (a prompt's answer), `clock`, `sleep`
    (`--watch`) and `clients` (boto3 clients by service name, e.g. a stubbed s3control)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # bad arguments (2, usage printed) or --help (0)
        return int(exit_.code or 0)
    aws = Aws.from_args(args)
    aws.clients.update(clients or {})
    ctx = Context(
        StackOutputs.from_args(args),
        aws,
        Printer(as_json=args.json),
        clock=clock or (lambda: datetime.now(UTC)),
        stdin=stdin or sys.stdin,
        sleep=sleep or time.sleep,
    )
    try:
        return args.run(args, ctx)
    except UsageError as exc:
        print(f"bulk-loader {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (NoCredentialsError, NoRegionError) as exc:
        print(f"bulk-loader {args.command}: error: {exc} (see --help, AWS options)", file=sys.stderr)
        return EXIT_USAGE
    except CommandFailed as exc:
        print(f"bulk-loader {args.command}: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ClientError as exc:
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "an AWS call")
        print(
            f"bulk-loader {args.command}: failed: {operation}: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except BotoCoreError as exc:
        print(f"bulk-loader {args.command}: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"bulk-loader {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["EXIT_OK", "Context", "build_parser", "main"]
