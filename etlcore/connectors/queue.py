"""In-memory sources and sinks for tests and examples (Spark's queueStream).

Sides: the queue lives in the driver's memory, so ``QueueSource`` reads on the
driver (``DriverReader``); ``MemorySink``'s writer returns the records and the
driver stores them per batch id at commit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from etlcore.batch import BatchInfo
from etlcore.config import option
from etlcore.sink import CollectingSink, SinkContext
from etlcore.source import DriverReader, OffsetSource, SourceReader


@dataclass
class QueueSourceConfig:
    batches: list[Any] = option([], help="a list of batches; each is a list of records")
    one_at_a_time: bool | None = option(
        None, help="true: exactly one queued batch per micro-batch; false: all at once; "
        "unset: one per micro-batch, several when the job is behind and catch-up is on")


class QueueSource(OffsetSource):
    """Replays a fixed list of batches: one per micro-batch, deterministically.

    Positions count batches taken from the queue; ``push`` adds more while the
    job runs. Unless ``one_at_a_time`` is set to true, a job that is behind may take
    several queued batches in one micro-batch (``coalesces``, :mod:`etlcore.catchup`).
    """

    def __init__(self, config: QueueSourceConfig):
        self.batches: list[list[Any]] = [list(b) for b in config.batches]
        self.one_at_a_time = config.one_at_a_time is not False
        self.coalesces = config.one_at_a_time is None
        self._lock = threading.Lock()

    def push(self, records: list[Any]) -> None:
        with self._lock:
            self.batches.append(list(records))

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return len(self.batches)

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        with self._lock:
            end = len(self.batches)
        return min(end, start + 1) if self.one_at_a_time else end

    def reader(self) -> SourceReader:
        """The queue exists only in this process: read on the driver, ship the records."""
        return DriverReader(self)

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        with self._lock:
            return [r for b in self.batches[start:end] for r in b]

    def estimate(self, partition: str, start: int, end: int) -> int | None:
        """Records (not queued batches) in the range: catch-up caps batches by it."""
        with self._lock:
            return sum(len(b) for b in self.batches[start:end])

    def exhausted(self) -> bool:
        return False


@dataclass
class MemorySinkConfig:
    name: str = option("memory", help="key under which results are kept (MemorySink.results(name))")


class MemorySink(CollectingSink):
    """Keeps committed batches in the driver's memory, keyed by batch id: a replay replaces."""

    stores: ClassVar[dict[str, dict[int, list[Any]]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, config: MemorySinkConfig):
        self.key = config.name

    def open(self, ctx: SinkContext) -> None:
        with self._lock:
            self.stores.setdefault(self.key, {})

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        records = list(records)  # a copy: the batch's lists may be reused by the engine
        with self._lock:
            store = self.stores.setdefault(self.key, {})
            if records:
                store[batch.batch_id] = records
            else:
                store.pop(batch.batch_id, None)

    @classmethod
    def batches(cls, name: str = "memory") -> dict[int, list[Any]]:
        """batch id -> records, for every committed batch that had output."""
        with cls._lock:
            return dict(sorted(cls.stores.get(name, {}).items()))

    @classmethod
    def results(cls, name: str = "memory") -> list[Any]:
        """All committed records in batch order."""
        return [r for records in cls.batches(name).values() for r in records]

    @classmethod
    def clear(cls, name: str | None = None) -> None:
        with cls._lock:
            if name is None:
                cls.stores.clear()
            else:
                cls.stores.pop(name, None)
