"""Print each batch to the terminal (Spark's pprint)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.config import option
from etlcore.sink import Sink


@dataclass
class ConsoleSinkConfig:
    limit: int = option(10, help="records printed per batch")
    header: bool = option(True, help="print a 'Batch N' header line")


class ConsoleSink(Sink):
    """Prints the first ``limit`` records of each committed batch to stdout."""

    def __init__(self, config: ConsoleSinkConfig):
        self.limit = config.limit
        self.header = config.header
        self._pending: dict[int, list[Any]] = {}

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        self._pending[partition] = records

    def commit(self, batch: BatchInfo) -> None:
        pending, self._pending = self._pending, {}
        records = [r for p in sorted(pending) for r in pending[p]]
        if not records:
            return
        out = sys.stdout
        if self.header:
            when = datetime.fromtimestamp(batch.batch_time, tz=timezone.utc).strftime("%H:%M:%S")
            out.write(f"-------- batch {batch.batch_id} at {when} ({len(records)} records)\n")
        for r in records[: self.limit]:
            out.write(f"{r}\n")
        if len(records) > self.limit:
            out.write("...\n")
        out.flush()
