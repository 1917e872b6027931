"""The ``hdfs`` sink: the files sink over :class:`~etlcore_hdfs.fs.HdfsFileSystem`.

Exactly once by rename: a worker writes each (batch, partition) to a hidden temp
file beside its final name ``<dir>/batch-<id:012d>/.part-<p:05d>.<ext>.tmp``; the
driver renames it to ``part-<p:05d>.<ext>`` at commit (an atomic replace, so a
replay overwrites the same name) and writes the batch directory's ``_SUCCESS``
marker. Readers that skip hidden names never see a partial file. See
:mod:`etlcore.connectors.files` for formats and dead letters.
"""

from __future__ import annotations

from etlcore.connectors.files import FilesSink
from etlcore.sink import SinkContext
from etlcore_hdfs.config import HdfsSinkConfig, options_of
from etlcore_hdfs.fs import HdfsFileSystem


class HdfsSink(FilesSink):
    """Driver side: checks the NameNode answers, renames at commit; the writer ships the fs."""

    def __init__(self, config: HdfsSinkConfig):
        super().__init__(config, fs=HdfsFileSystem(options_of(config)))
        self.config = config

    def open(self, ctx: SinkContext) -> None:
        assert isinstance(self.fs, HdfsFileSystem)
        self.fs.check_reachable(self.config.path)
        self.fs.mkdirs(self.config.path)
        super().open(ctx)
