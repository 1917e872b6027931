"""Print each batch to the terminal (Spark's pprint).

Sides: ``ConsoleWriter`` on a worker sends back only the first ``limit``
records of its partition and the count; the driver prints at commit.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.config import option
from etlcore.sink import Sink, SinkWriter


@dataclass
class ConsoleSinkConfig:
    limit: int = option(10, help="records printed per batch")
    header: bool = option(True, help="print a 'Batch N' header line")


@dataclass(frozen=True)
class ConsoleWriter(SinkWriter):
    """No partition needs to ship more than the driver will print."""

    limit: int

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        return records[: self.limit], len(records)


class ConsoleSink(Sink):
    """Prints the first ``limit`` records of each committed batch to stdout."""

    plan_before_write = False  # writers only cut the partition; printing is at commit

    def __init__(self, config: ConsoleSinkConfig):
        self.limit = config.limit
        self.header = config.header

    def writer(self) -> ConsoleWriter:
        return ConsoleWriter(self.limit)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        total = sum(n for _, n in messages)
        if not total:
            return
        out = sys.stdout
        if self.header:
            when = datetime.fromtimestamp(batch.batch_time, tz=timezone.utc).strftime("%H:%M:%S")
            out.write(f"-------- batch {batch.batch_id} at {when} ({total} records)\n")
        shown = [r for head, _ in messages for r in head][: self.limit]
        for r in shown:
            out.write(f"{r}\n")
        if total > self.limit:
            out.write("...\n")
        out.flush()
