"""etlcore-s3: S3 (AWS, MinIO, any S3 API) as a directory source and a files sink.

    stream = ctx.source("s3", path="s3://bucket/in/", format="json",
                        endpoint_url="http://127.0.0.1:9000", path_style=True)
    stream.sink("s3", path="s3://bucket/out", format="jsonl")

Loading the plugin registers :class:`~etlcore_s3.fs.S3FileSystem` for ``s3://`` and
``s3a://`` paths, so the built-in ``directory`` source and ``files`` sink also take
them (credentials and endpoint then come from the standard AWS environment or
profile). The ``s3`` source and sink add those settings to their configs.

- :mod:`etlcore_s3.fs`: the file system (ListObjectsV2 with start-after, ranged
  and parallel reads, multipart writes, retries with backoff while S3 is down).
- :mod:`etlcore_s3.source`, :mod:`etlcore_s3.sink`: the directory source and the
  files sink over it; the sink publishes each batch with a manifest object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin import fs as fsmod
from etlcore.plugin.fs import FileSystem, register_filesystem
from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar

__all__ = ["etlcore_register_sinks", "etlcore_register_sources"]


def _default_filesystem() -> FileSystem:
    """``s3://`` paths outside the s3 connectors: settings from the AWS environment."""
    from etlcore_s3.config import S3Options
    from etlcore_s3.fs import S3FileSystem

    return S3FileSystem(S3Options())


def register_filesystems() -> None:
    """``s3://`` and ``s3a://`` paths use S3 (also called whenever the registry loads).

    Only on an etlcore whose FileSystem has listings (``FileInfo``): an older one
    keeps its "pip install" hint instead of failing to import the file system.
    """
    if not hasattr(fsmod, "FileInfo"):
        return
    register_filesystem("s3", _default_filesystem)
    register_filesystem("s3a", _default_filesystem)


register_filesystems()


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register_filesystems()
    register.source("s3", "etlcore_s3.source:S3Source", "etlcore_s3.config:S3SourceConfig",
                    "new objects under an S3 prefix (text, JSON lines, CSV, Parquet; gzip, zstd), "
                    "replayable by a logged list of keys")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("s3", "etlcore_s3.sink:S3Sink", "etlcore_s3.config:S3SinkConfig",
                  "one S3 object per batch and partition (JSON lines, CSV, Parquet), published by "
                  "a manifest object at commit: exactly once")
