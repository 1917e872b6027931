"""The benchmark's etlcore source and sink, and the pre-event-time sessionizer."""

from __future__ import annotations

from typing import Any

from benchmarks.engines.base import CountingSink
from etlcore.batch import BatchInfo
from etlcore.sink import Sink
from etlcore.source import OffsetSource


class BenchSource(OffsetSource):
    """Pre-generated records served ``batch_size`` per micro-batch (one partition)."""

    def __init__(self, records: list[Any], batch_size: int):
        self.records = records
        self.batch_size = batch_size

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return len(self.records)

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(len(self.records), start + self.batch_size)

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        return self.records[start:end]

    def exhausted(self) -> bool:
        return True


class EtlCountingSink(Sink):
    """W3's counting sink as an etlcore Sink."""

    def __init__(self) -> None:
        self.totals = CountingSink()

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        self.totals.add_all(records)


class Sessionizer:
    """``transform`` body for W4 before ``session_window`` existed: open sessions per user.

    Emits ``(user, start, clicks, duration)`` once ``last + gap`` passes the
    watermark (latest event time seen minus ``max_delay``).
    """

    def __init__(self, gap: float, max_delay: float):
        self.gap = gap
        self.max_delay = max_delay
        self.open: dict[int, list[Any]] = {}
        self.max_ts = float("-inf")

    def __call__(self, events: list[tuple[float, int]]) -> list[tuple[int, float, int, float]]:
        gap, open_ = self.gap, self.open
        done: list[tuple[int, float, int, float]] = []
        for ts, user in events:
            s = open_.get(user)
            if s is None:
                open_[user] = [ts, ts, 1]
            elif ts - s[1] > gap:
                done.append((user, s[0], s[2], s[1] - s[0]))
                open_[user] = [ts, ts, 1]
            else:
                s[1], s[0] = max(s[1], ts), min(s[0], ts)
                s[2] += 1
            if ts > self.max_ts:
                self.max_ts = ts
        watermark = self.max_ts - self.max_delay
        for user in [u for u, s in open_.items() if s[1] + gap <= watermark]:
            s = open_.pop(user)
            done.append((user, s[0], s[2], s[1] - s[0]))
        return done
