"""etlcore-log: a sink that writes each committed batch to Python logging.

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
from etlcore.sink import Sink

__all__ = ["LogSink", "LogSinkConfig", "etlcore_register_sinks"]


@dataclass
class LogSinkConfig:
    logger: str = option("etlcore.sink.log", help="name of the logger to write to")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = option("INFO", help="log level")
    limit: int | None = option(10, help="records logged per batch (null: all)")

    def validate(self, where: str) -> None:
        if self.limit is not None and self.limit < 0:
            key = f"{where}.limit" if where else "limit"
            raise ConfigError(key, "a non-negative number of records or null", self.limit)


class LogSink(Sink):
    """Logs at commit, so only batches every partition of which was written appear.

    Logging cannot be undone or deduplicated: a batch replayed after a crash is
    logged again, marked ``(replay)``. That is at-least-once, fine for a log.
    """

    def __init__(self, config: LogSinkConfig):
        self.log = logging.getLogger(config.logger)
        self.level = logging.getLevelName(config.level)
        self.limit = config.limit
        self._pending: dict[int, list[Any]] = {}

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        self._pending[partition] = list(records)

    def commit(self, batch: BatchInfo) -> None:
        pending, self._pending = self._pending, {}
        records = [r for p in sorted(pending) for r in pending[p]]
        if not records or not self.log.isEnabledFor(self.level):
            return
        replay = " (replay)" if batch.replay else ""
        self.log.log(self.level, "batch %d%s: %d records", batch.batch_id, replay, len(records))
        shown = records if self.limit is None else records[: self.limit]
        for record in shown:
            self.log.log(self.level, "  %r", record)
        if len(shown) < len(records):
            self.log.log(self.level, "  ... %d more", len(records) - len(shown))


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("log", LogSink, LogSinkConfig, "log each committed batch (Python logging)")
