"""`make bench`: run every benchmark module in this package, each in its own process.

A benchmark is any module of this package (not starting with `_`) that defines `main()`. Each runs as
`python -m benchmarks.<name> [args]` in a fresh interpreter, so one benchmark's memory or threads never
skew another's figures. Arguments after the command are passed to every benchmark (e.g. `--quick`);
`--only NAME[,NAME]` runs a subset.
"""

from __future__ import annotations

import argparse
import ast
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Modules of this package that define a top-level `main` function (checked without importing them)."""
    names = []
    for module in pkgutil.iter_modules([str(_PACKAGE_DIR)]):
        if module.name.startswith("_"):
            continue
        tree = ast.parse((_PACKAGE_DIR / f"{module.name}.py").read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            names.append(module.name)
    return sorted(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", help="comma-separated benchmark module names")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args, passthrough = parser.parse_known_args(argv)
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    failed = []
    for name in names:
        print(f"=== benchmarks.{name} {' '.join(passthrough)}".rstrip(), flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *passthrough])
        print(f"=== benchmarks.{name}: exit {code} after {time.perf_counter() - started:.1f}s\n", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
