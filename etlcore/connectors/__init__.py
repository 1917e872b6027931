"""The built-in connectors, registered through the same hooks as external plugins.

Registered as ``"module:Class"`` strings: a connector's module is imported only
when a job uses it (see :mod:`etlcore.plugin.lazy`).
"""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register.source("queue", "etlcore.connectors.queue:QueueSource",
                    "etlcore.connectors.queue:QueueSourceConfig",
                    "in-memory batches of records (Spark's queueStream)")
    register.source("generator", "etlcore.connectors.generator:GeneratorSource",
                    "etlcore.connectors.generator:GeneratorSourceConfig",
                    "seeded synthetic tweets, clicks or sensor readings, replayable")
    register.source("socket", "etlcore.connectors.socket:SocketSource",
                    "etlcore.connectors.socket:SocketSourceConfig",
                    "text lines over TCP, as client or server, with a write-ahead log")
    register.source("directory", "etlcore.connectors.directory:DirectorySource",
                    "etlcore.connectors.directory:DirectorySourceConfig",
                    "new files in a directory as text, JSON lines or CSV (textFileStream)")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("console", "etlcore.connectors.console:ConsoleSink",
                  "etlcore.connectors.console:ConsoleSinkConfig", "print each batch to stdout")
    register.sink("memory", "etlcore.connectors.queue:MemorySink",
                  "etlcore.connectors.queue:MemorySinkConfig", "keep batches in memory (tests)")
    register.sink("files", "etlcore.connectors.files:FilesSink",
                  "etlcore.connectors.files:FilesSinkConfig",
                  "one file per batch and partition, renamed into place at commit")
    register.sink("sqlite", "etlcore.connectors.sqlite:SqliteSink",
                  "etlcore.connectors.sqlite:SqliteSinkConfig",
                  "upsert or append to a SQLite table, exactly once per batch")
