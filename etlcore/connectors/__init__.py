"""The built-in connectors, registered through the same hooks as external plugins."""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    from etlcore.connectors.directory import DirectorySource, DirectorySourceConfig
    from etlcore.connectors.generator import GeneratorSource, GeneratorSourceConfig
    from etlcore.connectors.queue import QueueSource, QueueSourceConfig
    from etlcore.connectors.socket import SocketSource, SocketSourceConfig

    register.source("queue", QueueSource, QueueSourceConfig,
                    "in-memory batches of records (Spark's queueStream)")
    register.source("generator", GeneratorSource, GeneratorSourceConfig,
                    "seeded synthetic tweets, clicks or sensor readings, replayable")
    register.source("socket", SocketSource, SocketSourceConfig,
                    "text lines over TCP, as client or server, with a write-ahead log")
    register.source("directory", DirectorySource, DirectorySourceConfig,
                    "new files in a directory as text, JSON lines or CSV (textFileStream)")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    from etlcore.connectors.console import ConsoleSink, ConsoleSinkConfig
    from etlcore.connectors.files import FilesSink, FilesSinkConfig
    from etlcore.connectors.queue import MemorySink, MemorySinkConfig
    from etlcore.connectors.sqlite import SqliteSink, SqliteSinkConfig

    register.sink("console", ConsoleSink, ConsoleSinkConfig, "print each batch to stdout")
    register.sink("memory", MemorySink, MemorySinkConfig, "keep batches in memory (tests)")
    register.sink("files", FilesSink, FilesSinkConfig,
                  "one file per batch and partition, renamed into place at commit")
    register.sink("sqlite", SqliteSink, SqliteSinkConfig,
                  "upsert or append to a SQLite table, exactly once per batch")
