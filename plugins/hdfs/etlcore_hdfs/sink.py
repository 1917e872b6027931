"""The ``hdfs`` sink: the files sink over :class:`~etlcore_hdfs.fs.HdfsFileSystem`.

Exactly once by rename: a worker writes each (batch, partition) to a hidden temp
file beside its final name, ``<dir>/batch-<id:012d>/.part-<p:05d>.<ext>.<token>.tmp``;
the driver renames it to ``part-<p:05d>.<ext>`` at commit (an atomic replace, so a
replay overwrites the same name), removes the temp files other attempts left in the
batch directory and writes its ``_SUCCESS`` marker. Readers that skip hidden names
never see a partial file. See :mod:`etlcore.connectors.files` for formats and dead
letters.

Why a token per attempt: a job killed while its CREATE or RENAME was on the wire can
have that request carried out by the NameNode or DataNode a moment later, after the
restarted job began the same batch. With one shared temp name the late request would
replace (CREATE, perhaps with a partial body) or move away (RENAME) the new attempt's
file; with its own name it touches only its own, which the next commit removes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from etlcore.batch import BatchInfo
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

    def staging_path(self, final: Path | str) -> str:
        head, _, name = str(final).rpartition("/")
        return f"{head}/.{name}.{uuid.uuid4().hex[:16]}.tmp"

    def committed(self, batch: BatchInfo, dirs: list[str]) -> None:
        """Remove temp files of killed attempts (every part is renamed by now), then
        write ``_SUCCESS``."""
        for d in dirs:
            for info in list(self.fs.list(d)):
                if info.name.startswith(".part-") and info.name.endswith(".tmp"):
                    self.fs.remove(self.fs.join(d, info.name))
        super().committed(batch, dirs)
