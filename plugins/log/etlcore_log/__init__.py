"""etlcore-log: a sink that writes each committed batch to Python logging.

- :class:`HeadWriter` (worker): counts a partition's records and keeps the first
  ``limit``; that pair is its commit message, so workers ship no more than is shown.
- :class:`LogSink` (driver): logs the batch at commit, in partition order.

The example external plugin: the ``etlcore`` entry point in pyproject.toml
names this module, and the hook at the bottom registers the sink exactly as
the built-in connectors register theirs.

    stream.sink("log", logger="myjob.out", level="INFO", limit=5)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from etlcore.batch import BatchInfo
from etlcore.config import option
from etlcore.errors import ConfigError
from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar
from etlcore.sink import Sink, SinkWriter

__all__ = ["HeadWriter", "LogSink", "LogSinkConfig", "etlcore_register_sinks"]


@dataclass
class LogSinkConfig:
    logger: str = option("etlcore.sink.log", help="name of the logger to write to")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = option("INFO", help="log level")
    limit: int | None = option(10, help="records logged per batch (null: all)")

    def validate(self, where: str) -> None:
        if self.limit is not None and self.limit < 0:
            key = f"{where}.limit" if where else "limit"
            raise ConfigError(key, "a non-negative number of records or null", self.limit)


class HeadWriter(SinkWriter):
    """Counts a partition and keeps its first ``limit`` records (all with no limit)."""

    def __init__(self, limit: int | None):
        self.limit = limit

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> tuple[int, list[Any]]:
        return len(records), records[: self.limit]  # a copy: the engine may reuse the list


class LogSink(Sink):
    """Logs at commit, on the driver: one place to look, and only batches that completed.

    Logging on workers would scatter lines over processes and executors and show
    batches that then failed. Logging cannot be undone or deduplicated: a batch
    replayed after a crash is logged again, marked ``(replay)``. That is
    at-least-once, fine for a log.
    """

    plan_before_write = False  # writers only count; logging is at commit

    def __init__(self, config: LogSinkConfig):
        self.log = logging.getLogger(config.logger)
        self.level = logging.getLevelName(config.level)
        self.limit = config.limit

    def writer(self) -> HeadWriter:
        return HeadWriter(self.limit)

    def commit(self, batch: BatchInfo, messages: list[tuple[int, list[Any]] | None]) -> None:
        parts = [m for m in messages if m is not None]
        total = sum(count for count, _ in parts)
        if not total or not self.log.isEnabledFor(self.level):
            return
        replay = " (replay)" if batch.replay else ""
        self.log.log(self.level, "batch %d%s: %d records", batch.batch_id, replay, total)
        shown = [r for _, head in parts for r in head][: self.limit]
        for record in shown:
            self.log.log(self.level, "  %r", record)
        if len(shown) < total:
            self.log.log(self.level, "  ... %d more", total - len(shown))


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("log", "etlcore_log:LogSink", "etlcore_log:LogSinkConfig",
                  "log each committed batch (Python logging)")
