"""The ``s3`` source: the directory source over :class:`~etlcore_s3.fs.S3FileSystem`.

Everything that makes the directory source exactly-once carries over: each
batch's keys are appended to a manifest in the checkpoint before the batch is
planned, so a replay reads exactly the same objects and a restart never reads
an object twice. See :mod:`etlcore.connectors.directory` for formats, dead
letters, ``listing: after_last`` (ListObjectsV2 ``StartAfter``), ``min_age_seconds``
and ``published_only`` (read a ``s3`` sink's output: only published batches).
"""

from __future__ import annotations

from etlcore.connectors.directory import DirectorySource
from etlcore.plugin.redact import RedactedRepr
from etlcore.source import SourceContext
from etlcore_s3.config import S3SourceConfig, options_of
from etlcore_s3.fs import S3FileSystem


class S3Source(RedactedRepr, DirectorySource):
    """Driver side: lists and plans; the reader (a ``DirectoryReader``) ships the fs."""

    def __init__(self, config: S3SourceConfig):
        super().__init__(config, fs=S3FileSystem(options_of(config)))
        self.config: S3SourceConfig = config

    def open(self, ctx: SourceContext) -> None:
        assert isinstance(self.fs, S3FileSystem)
        self.fs.check_bucket(self.config.path)
        super().open(ctx)
