"""The benchmark's etlcore source and sink."""

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
