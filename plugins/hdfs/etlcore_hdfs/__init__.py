"""etlcore-hdfs: HDFS (over WebHDFS) as a directory source and a files sink.

    stream = ctx.source("hdfs", path="hdfs://namenode:9870/in", format="json")
    stream.sink("hdfs", path="hdfs://namenode:9870/out", format="jsonl")

The port is the NameNode's HTTP port, where WebHDFS answers (9870 in Hadoop 3).
Loading the plugin registers :class:`~etlcore_hdfs.fs.HdfsFileSystem` for
``hdfs://`` and ``webhdfs://`` paths, so the built-in ``directory`` source and
``files`` sink also take them (the user then comes from ``HADOOP_USER_NAME``).

- :mod:`etlcore_hdfs.fs`: the file system (HdfsCLI; paged listings with
  startAfter, ranged reads, atomic overwriting renames, retries while HDFS is down).
- :mod:`etlcore_hdfs.source`, :mod:`etlcore_hdfs.sink`: the directory source and
  the files sink over it; the sink stages temp files and renames them at commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin.fs import FileSystem, register_filesystem
from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar

__all__ = ["etlcore_register_sinks", "etlcore_register_sources", "register_filesystems"]


def _default_filesystem() -> FileSystem:
    """``hdfs://`` paths outside the hdfs connectors: default settings."""
    from etlcore_hdfs.config import HdfsOptions
    from etlcore_hdfs.fs import HdfsFileSystem

    return HdfsFileSystem(HdfsOptions())


def register_filesystems() -> None:
    """``hdfs://`` and ``webhdfs://`` paths use HDFS (also called whenever the registry loads)."""
    register_filesystem("hdfs", _default_filesystem)
    register_filesystem("webhdfs", _default_filesystem)


register_filesystems()


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register_filesystems()
    register.source("hdfs", "etlcore_hdfs.source:HdfsSource", "etlcore_hdfs.config:HdfsSourceConfig",
                    "new files in an HDFS directory over WebHDFS (text, JSON lines, CSV, Parquet; "
                    "gzip, zstd), replayable by a logged list of files")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("hdfs", "etlcore_hdfs.sink:HdfsSink", "etlcore_hdfs.config:HdfsSinkConfig",
                  "one HDFS file per batch and partition (JSON lines, CSV, Parquet), written to a "
                  "temp file and renamed at commit: exactly once")
