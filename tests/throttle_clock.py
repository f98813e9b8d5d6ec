"""The throttle's pacing, tested without the machine's timing: a clock that only the
throttle's sleeps move, installed as ``smtpx.transport.stream``'s ``time`` (the TokenBucket
of both streams reads it). A sleep moves it by what the throttle asked for, at least a
microsecond, as a real sleep: the bucket may ask for less than the clock's resolution (the
last fraction of a token), which would never move it."""
from __future__ import annotations

from typing import Any


class ThrottleClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0

    def monotonic(self) -> float:
        return self.now

    perf_counter = monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += max(1e-6, seconds)


def install(monkeypatch: Any) -> ThrottleClock:
    import smtpx.transport.stream as stream_module

    clock = ThrottleClock()
    monkeypatch.setattr(stream_module, "time", clock)
    return clock


def paced_time(size: int, rate: int) -> float:
    """Seconds of that clock ``size`` bytes take at ``rate`` bytes a second: the burst (20 ms
    worth) goes at once, the rest at the rate."""
    return (size - rate // 50) / rate


def assert_paced(clock_seconds: float, size: int, rate: int) -> None:
    """Not faster than the rate (held), and not more than 1% slower (not held back), on the
    ThrottleClock: only the throttle's own sleeps move it, never the machine's speed."""
    expected = paced_time(size, rate)
    assert expected - 1e-9 <= clock_seconds <= expected * 1.01, (clock_seconds, expected)


def assert_few_sleeps(sleeps: int, size: int, rate: int) -> None:
    """The throttle writes half a bucket at a time (TokenBucket.burst), not a byte per wake-up:
    about (size - burst) / (burst / 2) sleeps; twice that allows for a sleep that ends a hair
    short of its tokens (float rounding) and is followed by a tiny one."""
    burst = rate // 50
    bound = 2 * ((size - burst) // (burst // 2) + 1)
    assert 0 < sleeps <= bound, (sleeps, bound)
