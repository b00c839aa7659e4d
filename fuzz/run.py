"""One fuzz target under atheris/libFuzzer: `python -m fuzz.run TARGET [libFuzzer flags] [corpus dirs]`.

The project's handler modules are imported under atheris' instrumentation, so libFuzzer is guided by the
branches of our code (pydantic, botocore and pyarrow are not instrumented: their C code is not, either).
"""

from __future__ import annotations

import sys

import atheris


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m fuzz.run TARGET [libFuzzer flags] [corpus dirs]")
    name = sys.argv[1]
    with atheris.instrument_imports(include=["handlers", "fuzz"]):
        from fuzz.targets import TARGETS

    if name not in TARGETS:
        raise SystemExit(f"unknown fuzz target {name!r}; targets: {', '.join(TARGETS)}")
    target = TARGETS[name].run
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
