"""The demo's progress line: registration rate (overall and recent) and throttled calls, on fake clocks."""

from __future__ import annotations

from offline.demo.cli import Progress
from offline.gateways.limits import Registry


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_progress_line_shows_the_registration_rate_and_throttled_calls(capsys):
    registry = Registry()
    mono, wall = Clock(0.0), Clock(10_000.0)
    throttled = [0]
    progress = Progress(5, registry, "queue", lambda: throttled[0], clock=mono, wall=wall)
    for n in range(10):  # 10 registrations, one every 0.5 s, from wall time 10_000
        registry.add(f"user-{n}", f"fp-{n}").created_at = 10_000.0 + n * 0.5
    mono.now, wall.now = 5.0, 10_005.0
    progress("tick", {})
    throttled[0] = 7
    for n in range(10, 30):  # 20 more in the next 5 s: 4/s recently
        registry.add(f"user-{n}", f"fp-{n}").created_at = 10_005.0 + (n - 10) * 0.25
    mono.now, wall.now = 10.0, 10_010.0
    progress("tick", {})
    first, second = capsys.readouterr().out.splitlines()
    assert "indexed 10 | 2.0/s (0.0/s last 10 s) | throttled 0" in first
    assert "indexed 30 | 3.0/s (4.0/s last 10 s) | throttled 7" in second


def test_ticks_closer_than_the_interval_print_nothing(capsys):
    mono = Clock(0.0)
    progress = Progress(1, Registry(), None, clock=mono, wall=Clock(0.0))
    progress("tick", {})
    mono.now = 1.0
    progress("tick", {})
    progress("job", {})
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_the_report_gives_the_rate_from_first_to_last_registration_against_the_limit():
    from offline.demo.report import pace_line

    registry = Registry()
    assert registry.rate() == 0.0  # nothing registered: no rate, no division by zero
    for n in range(21):  # 21 registrations, 0.5 s apart: 20 intervals in 10 s
        registry.add(f"user-{n}", f"fp-{n}").created_at = 5_000.0 + n * 0.5
    assert registry.rate() == 2.0
    line = pace_line(len(registry.all()), registry.rate(), 2.5, throttled=1)
    assert "2.00/s from the first to the last of 21 = 0.80 x the gateway's limit 2.5/s" in line
    assert "throttled calls 1 = 0.048 per registration" in line
    assert "(gateway unlimited)" in pace_line(21, 2.0, None, 0)
