"""Clocks: the real one, and a manual one that makes runs fast and repeatable.

With :class:`ManualClock` each batch advances time by one batch interval
without sleeping (Spark's ManualClock); tests and benchmarks use it.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    sleeps: bool

    def now(self) -> float: ...

    def wait_until(self, t: float, stop: threading.Event | None = None) -> None: ...


class SystemClock:
    """Wall-clock time; waiting sleeps (and wakes early on stop)."""

    sleeps = True

    def now(self) -> float:
        return time.time()

    def wait_until(self, t: float, stop: threading.Event | None = None) -> None:
        delay = t - time.time()
        if delay <= 0:
            return
        if stop is None:
            time.sleep(delay)
        else:
            stop.wait(delay)


class ManualClock:
    """A clock that only moves when the scheduler waits on it: no sleeping."""

    sleeps = False

    def __init__(self, start: float = 0.0):
        self._t = start

    def now(self) -> float:
        return self._t

    def wait_until(self, t: float, stop: threading.Event | None = None) -> None:
        if t > self._t:
            self._t = t

    def advance(self, seconds: float) -> None:
        self._t += seconds


def make_clock(kind: str | Clock | None) -> Clock:
    if kind is None or kind == "system":
        return SystemClock()
    if kind == "manual":
        return ManualClock()
    if isinstance(kind, str):
        from etlcore.errors import ConfigError

        raise ConfigError("clock", "'system' or 'manual'", kind)
    return kind
