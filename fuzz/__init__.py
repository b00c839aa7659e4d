"""Coverage-guided fuzzing (atheris) of the handlers' event parsing and the inventory readers.

`make fuzz` (or `python -m fuzz [--seconds N] [TARGET ...]`) runs every target in fuzz/targets.py for a
bounded time and reports executions, crashes and corpus size per target. Not part of `make test`; the inputs
that once crashed a target are replayed by tests/real_events/test_fuzz_regressions.py.
"""
