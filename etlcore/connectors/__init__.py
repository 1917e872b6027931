"""The built-in connectors, registered through the same hooks as external plugins."""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    from etlcore.connectors.queue import QueueSource, QueueSourceConfig

    register.source("queue", QueueSource, QueueSourceConfig,
                    "in-memory batches of records (Spark's queueStream)")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    from etlcore.connectors.console import ConsoleSink, ConsoleSinkConfig
    from etlcore.connectors.queue import MemorySink, MemorySinkConfig

    register.sink("console", ConsoleSink, ConsoleSinkConfig, "print each batch to stdout")
    register.sink("memory", MemorySink, MemorySinkConfig, "keep batches in memory (tests)")
