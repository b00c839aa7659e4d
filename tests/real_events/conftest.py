"""tests/real_events: every handler entry point driven with the real AWS samples of tests/events.

This file's folder goes on sys.path (pytest's rootdir-relative conftest import), so the tests import
`corpus` (the sample loader); the per-function helpers are imported as `tests.<function>.<module>`.
"""
