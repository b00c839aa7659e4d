"""Run fuzz targets for a bounded time each: `python -m fuzz [--seconds N] [--work DIR] [TARGET ...]`.

Per target, under DIR/<target>/ (default build/fuzz, kept between runs so the corpus grows): `seeds/` (the
real samples of tests/events, rewritten each run), `corpus/` (what libFuzzer found interesting),
`artifacts/` (crash-*, timeout-*, oom-* inputs) and `log-<n>.txt`. libFuzzer stops at the first crash; the
target is restarted on its corpus until its time is used (at most MAX_RUNS runs), so one run can report
several crashes. A hang (an input running longer than --input-timeout seconds) and running out of memory
(--rss-limit-mb) are crashes too. Exit status 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[1]
MAX_RUNS = 10
_EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s", re.MULTILINE)
_ARTIFACT_KINDS = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


def _dictionary(seeds: list[bytes]) -> list[str]:
    """libFuzzer dictionary entries: the object keys and short strings of the JSON seeds, so mutations
    produce field names the parsers look for instead of random bytes."""
    tokens: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                tokens.add(json.dumps(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) <= 40:
            tokens.add(json.dumps(value))

    for seed in seeds:
        try:
            walk(json.loads(seed))
        except (UnicodeDecodeError, ValueError):
            continue
    # libFuzzer's dictionary syntax: one quoted token per line, with \\ and \" escaped, ASCII only.
    return sorted(
        '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for token in tokens
        if token.isascii() and token.isprintable()
    )


def _artifacts(folder: Path) -> set[Path]:
    return {p for p in folder.iterdir() if p.name.startswith(_ARTIFACT_KINDS)}


def _summary(log: str) -> str:
    """The exception line of a crash (atheris prints the Python traceback), or libFuzzer's reason."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "Uncaught Python exception" in line:
            rest = [text for text in lines[i + 1 :] if text and not text.startswith((" ", "Traceback"))]
            return rest[0][:300] if rest else line
    for line in lines:
        if "ERROR: libFuzzer:" in line:
            return line.strip()[:300]
    return "(see the log)"


def fuzz_target(name: str, seconds: int, work: Path, input_timeout: int, rss_limit_mb: int) -> dict:
    base = work / name
    seeds, corpus, artifacts = base / "seeds", base / "corpus", base / "artifacts"
    for folder in (seeds, corpus, artifacts):
        folder.mkdir(parents=True, exist_ok=True)
    for old in seeds.iterdir():
        old.unlink()
    seed_inputs = TARGETS[name].seeds()
    for i, seed in enumerate(seed_inputs):
        (seeds / f"seed-{i:03d}").write_bytes(seed)
    dictionary = base / "tokens.dict"
    dictionary.write_text("\n".join(_dictionary(seed_inputs)) + "\n", encoding="ascii")
    before = _artifacts(artifacts)
    executions, crashes, deadline = 0, [], time.monotonic() + seconds
    for run in range(MAX_RUNS):
        left = int(deadline - time.monotonic())
        if left < 1:
            break
        command = [
            sys.executable,
            "-m",
            "fuzz.run",
            name,
            f"-max_total_time={left}",
            f"-timeout={input_timeout}",
            f"-rss_limit_mb={rss_limit_mb}",
            "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/",
            *([f"-dict={dictionary}"] if dictionary.stat().st_size > 1 else []),
            str(corpus),
            str(seeds),
        ]
        log_path = base / f"log-{run}.txt"
        with log_path.open("w", encoding="utf-8") as log:
            # Hard stop well past libFuzzer's own limit: a wedged process is a hang, not a wait.
            try:
                status = subprocess.run(  # noqa: S603 - our own interpreter and module
                    command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=left + 60, check=False
                ).returncode
            except subprocess.TimeoutExpired:
                crashes.append(f"hang: the fuzzer did not stop within {left + 60} s ({log_path})")
                break
        text = log_path.read_text(encoding="utf-8", errors="replace")
        # The final stats are missing when the process died mid-crash: its last progress line counts then.
        executed = [int(n) for n in _EXECUTED.findall(text)] or [int(n) for n in _PROGRESS.findall(text)][-1:]
        executions += sum(executed)
        new = sorted(_artifacts(artifacts) - before)
        before |= set(new)
        crashes += [f"{path.name}: {_summary(text)}" for path in new]
        if not new and status != 0:
            # A crash whose input libFuzzer could not write (the process died first): the log has it.
            crashes.append(f"exit status {status}, no input written ({log_path}): {_summary(text)}")
        if not new and status == 0:
            break  # the time was used without a crash
    return {
        "target": name,
        "executions": executions,
        "crashes": crashes,
        "corpus": sum(1 for p in corpus.iterdir() if p.is_file()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets to run (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (default 60)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "fuzz", help="corpus/artifact folder")
    parser.add_argument("--input-timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--rss-limit-mb", type=int, default=2048, help="memory limit of a fuzzer process")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; targets: {', '.join(TARGETS)}")
    if args.seconds < 1:
        parser.error("--seconds must be at least 1")
    results = []
    for name in args.targets or list(TARGETS):
        print(f"fuzzing {name} for {args.seconds} s ...", flush=True)
        result = fuzz_target(name, args.seconds, args.work, args.input_timeout, args.rss_limit_mb)
        results.append(result)
        for crash in result["crashes"]:
            print(f"  CRASH {crash}", flush=True)
    print(f"\n{'target':<20} {'executions':>12} {'crashes':>8} {'corpus':>7}")
    for r in results:
        print(f"{r['target']:<20} {r['executions']:>12} {len(r['crashes']):>8} {r['corpus']:>7}")
    print(f"(inputs and logs under {args.work})")
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
