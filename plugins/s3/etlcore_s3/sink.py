"""The ``s3`` sink: the files sink over :class:`~etlcore_s3.fs.S3FileSystem`.

Exactly once without rename: a worker writes each (batch, partition) straight
to its final key ``<prefix>/batch-<id:012d>/part-<p:05d>.<ext>`` (multipart above
``multipart_threshold``, left pending: the object does not exist yet), and the
driver's commit completes those multipart uploads, then publishes the batch with
``<prefix>/_manifests/batch-<id:012d>.json`` listing its parts. A replay writes
the same bytes to the same keys and the same manifest, and aborts the uploads its
killed attempt left pending; readers that honour
manifests (the ``s3`` source with ``published_only``) never read a part of a
batch that did not commit. See :mod:`etlcore.connectors.files` for formats and
dead letters.
"""

from __future__ import annotations

from etlcore.connectors.files import FilesSink
from etlcore.plugin.redact import RedactedRepr
from etlcore.sink import SinkContext
from etlcore_s3.config import S3SinkConfig, options_of
from etlcore_s3.fs import S3FileSystem


class S3Sink(RedactedRepr, FilesSink):
    """Driver side: checks the bucket, writes manifests; the writer carries the fs."""

    def __init__(self, config: S3SinkConfig):
        super().__init__(config, fs=S3FileSystem(options_of(config)))
        self.config = config

    def open(self, ctx: SinkContext) -> None:
        assert isinstance(self.fs, S3FileSystem)
        self.fs.check_bucket(self.config.path)
        super().open(ctx)
