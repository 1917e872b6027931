"""The ``hdfs`` source: the directory source over :class:`~etlcore_hdfs.fs.HdfsFileSystem`.

Everything that makes the directory source exactly-once carries over: each
batch's files are appended to a manifest in the checkpoint before the batch is
planned, so a replay reads exactly the same files and a restart never reads a
file twice. See :mod:`etlcore.connectors.directory` for formats, dead letters,
``listing: after_last`` (WebHDFS ``LISTSTATUS_BATCH`` with ``startAfter``) and
``min_age_seconds``.
"""

from __future__ import annotations

from etlcore.connectors.directory import DirectorySource
from etlcore.source import SourceContext
from etlcore_hdfs.config import HdfsSourceConfig, options_of
from etlcore_hdfs.fs import HdfsFileSystem


class HdfsSource(DirectorySource):
    """Driver side: lists and plans; the reader (a ``DirectoryReader``) ships the fs."""

    def __init__(self, config: HdfsSourceConfig):
        super().__init__(config, fs=HdfsFileSystem(options_of(config)))
        self.config: HdfsSourceConfig = config

    def open(self, ctx: SourceContext) -> None:
        assert isinstance(self.fs, HdfsFileSystem)
        self.fs.check_reachable(self.config.path)
        super().open(ctx)
