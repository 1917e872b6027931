"""One file per (batch, partition) under a directory, committed by atomic rename.

Final names depend on ids only, ``<path>/batch-<batch_id:012d>/part-<partition:05d>.<ext>``,
so a replayed batch overwrites the files of its first run instead of adding
copies. A batch directory gets a ``_SUCCESS`` marker once all its parts are in
place (the Hadoop convention); partitions without records write no file, and
a batch without any records leaves no directory.

Formats: ``jsonl`` (one JSON value per line; tuples become arrays, values JSON
cannot represent are written with ``str``), ``csv`` (dict records: a header of
the keys in first-seen order; tuples and lists: rows, nested tuples flattened;
anything else: one column), ``text`` (``str(record)`` per line) and ``parquet``
(dict records, or ``{"value": record}``, needs pyarrow; the schema is inferred
per file from every record; when types conflict, each field keeps its first-seen
type and a record that does not fit is a dead letter). Text files are UTF-8.

Records the sink cannot write do not stop the job: the writer hands them back
as dead letters (``WriteResult``) before any sink commits the batch. That is a
record holding a lone surrogate (no UTF-8 form), one nested too deeply, one
whose ``str`` fails, and, in ``jsonl``, one holding NaN or Infinity, which
JSON has no form for: ``non_finite`` picks ``dead_letter`` (default), ``null``
or ``string`` (``"NaN"``, ``"Infinity"``, ``"-Infinity"``); see
:mod:`etlcore.encoding`. Used as the job's dead-letter sink, it refuses
nothing: what it cannot encode it writes as the record's ``ascii()`` repr.

Sides: the sink is its own picklable writer config; workers write and fsync
temp files, the driver renames them and writes ``_SUCCESS`` at commit. Workers
and driver must see the same file system.

Storage goes through :mod:`etlcore.plugin.fs`, picked by the path's scheme. On
a store without an atomic rename (S3: ``atomic_rename = False``) workers write
each part under its final name (a replay overwrites it) and the driver
publishes the batch at commit with ``<path>/_manifests/batch-<id>.json``,
listing its parts: readers (the directory source with ``published_only``)
read only published parts, never those of a batch that did not commit.
Writers close their uploads with ``Upload.close_deferred``, so the commit also
finishes them first (S3: CompleteMultipartUpload, in parallel), off the tasks'
path; the commit message is then ``(final, pending)``. ``abort`` discards them;
a replay's commit discards the killed attempt's unfinished ones. A writer on the
driver (the local runner) hands its last parts off too (``in_process``): its task
ends with them still going up, the commit waits for them, and the next batch's
task reads and sends meanwhile. A store with a rename may hand off as well (HDFS:
the streamed CREATE's answer, which comes once the file is closed): the message is
then ``(final, tmp, pending)`` and the commit finishes the upload before it renames.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etlcore.batch import BatchInfo
from etlcore.config import option
from etlcore.connectors.directory import MANIFESTS
from etlcore.connectors.sqlite import flatten
from etlcore.encoding import NonFinite, Unstorable, json_text, safe_repr, storable_letter
from etlcore.errors import ConfigError
from etlcore.lineblock import LineBlock
from etlcore.plugin.fs import (
    FileSystem,
    LocalFileSystem,
    Upload,
    filesystem_for,
    local_path,
    scheme_of,
)
from etlcore.plugin.imports import require_module
from etlcore.sink import (
    PartWriter,
    SinkContext,
    SinkWriter,
    StagedFileSink,
    StagedFileWriter,
    WriterContext,
    WriteResult,
    fsync_path,
)

_EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "text": "txt", "parquet": "parquet"}


@dataclass
class FilesSinkConfig:
    path: str = option(help="output directory; one sub-directory per batch")
    format: Literal["jsonl", "csv", "text", "parquet"] = option(
        "jsonl", help="file format (parquet: dict records, one schema per file; needs pyarrow)")
    non_finite: NonFinite = option("dead_letter", help="jsonl: what to do with NaN and "
                                   "Infinity (dead_letter, null or string)")

    def validate(self, where: str) -> None:
        if not self.path:
            raise ConfigError(f"{where}.path" if where else "path", "a directory path", self.path)


def _csv_rows(records: list[Any]) -> tuple[list[str] | None, list[list[Any]]]:
    """A header (for dict records) and the rows."""
    if records and all(isinstance(r, dict) for r in records):
        header = list(dict.fromkeys(k for r in records for k in r))
        return header, [[r.get(k) for k in header] for r in records]
    return None, [flatten(r) if isinstance(r, (tuple, list)) else [r] for r in records]


def _rows(records: list[Any]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else {"value": r} for r in records]


def _parquet_bytes(records: list[Any], kind: Any = None) -> bytes:
    """One Parquet file; the schema is ``kind`` or inferred from every record."""
    pa = require_module("pyarrow", feature="writing Parquet files")
    pq = require_module("pyarrow.parquet", "pyarrow", feature="writing Parquet files")
    out = io.BytesIO()
    pq.write_table(pa.Table.from_struct_array(pa.array(_rows(records), type=kind)), out)
    return out.getvalue()


def _fit_schema(records: list[Any]) -> tuple[list[Any], list[tuple[Any, str]], Any]:
    """A schema with each field's first-seen type, the records that fit it, and the others
    with the reason (when the records' types conflict)."""
    pa = require_module("pyarrow", feature="writing Parquet files")
    types: dict[str, Any] = {}
    for row in _rows(records):
        for key, value in row.items():
            if value is not None and key not in types:
                try:
                    types[key] = pa.array([value]).type
                except Exception:  # noqa: BLE001, S112 - no Arrow type: the record is rejected below
                    continue
            types.setdefault(key, pa.null())
    kind = pa.struct(list(types.items()))
    kept, misfits = [], []
    for r in records:
        try:
            unknown = set(_rows([r])[0]) - set(types)  # Arrow would drop them silently
            if unknown:
                raise ValueError(f"no Arrow type for the values of {sorted(unknown)}")
            pa.array(_rows([r]), type=kind)
        except Exception as err:  # noqa: BLE001 - ArrowInvalid, ArrowTypeError
            misfits.append((r, f"does not fit the partition's Parquet schema ({kind}): {err}"))
        else:
            kept.append(r)
    return kept, misfits, kind


class _Encoded(list):  # type: ignore[type-arg]
    """A partition already encoded by :class:`FilesWriter`: at most one item, its bytes."""


class FilesWriter(StagedFileWriter):
    """Encodes on the worker first, so records the file cannot hold become dead letters."""

    layout: FilesSink

    def __init__(self, layout: FilesSink):
        super().__init__(layout)
        self.keep_all = False  # True when this is the job's dead-letter sink
        self.in_process = False  # runs on the driver: messages never cross processes
        self.last_sizes: dict[int, int] = {}  # partition -> bytes of its last streamed file

    def open(self, ctx: WriterContext) -> None:
        self.keep_all = ctx.name == "dead-letter"
        self.in_process = ctx.worker == "driver"

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        if self.keep_all:  # dead letters: a record that cannot be written is shown as its repr
            records = [storable_letter(r) if isinstance(r, dict) else r for r in records]
        data, rejected = self.layout.encode(records, self.keep_all)
        if self.layout.fs.atomic_rename:
            message = super().write(batch, partition, _Encoded([data] if data else []))
        else:  # no rename: the final name directly, published by the manifest at commit
            final = str(self.layout.final_path(batch, partition))
            message = None
            if data:
                upload = self.layout.fs.upload(final)
                upload.write(data)
                message = (final, upload.close_deferred(self.in_process))
        return WriteResult(message, rejected) if rejected else message

    def open_part(self, batch: BatchInfo, partition: int) -> PartWriter | None:
        """Lines (text, JSON lines) are stored chunk by chunk; a CSV header and a Parquet
        schema depend on the whole partition, so those take it in one ``write``."""
        if self.keep_all or self.layout.format not in ("text", "jsonl"):
            return None
        return _FilesPart(self.layout, batch, partition, self.last_sizes, self.in_process)


class _FilesPart(PartWriter):
    """A partition's lines encoded chunk by chunk into an upload of its file, which
    starts with the first bytes: a partition without records leaves no file.

    The upload starts before the first bytes when this partition's last file had any
    (``Upload.expect``), on a store where starting it touches nothing before that
    (no rename, or a create that makes the parents): S3 then creates its multipart
    upload, and HDFS asks the NameNode where to send the file, while the task reads
    its first input, instead of after (the first part waited for it, 4-60 ms a batch
    on S3, 3-16 ms on HDFS). If no bytes come after all, the upload is aborted and
    there is no file, as before. ``in_process``: the message
    stays in this process, so ``close`` may hand off the parts still going up.
    """

    def __init__(self, layout: FilesSink, batch: BatchInfo, partition: int,
                 last_sizes: dict[int, int] | None = None, in_process: bool = False):
        self.layout, self.batch, self.partition = layout, batch, partition
        self.in_process = in_process
        self.upload: Upload | None = None
        # (final, tmp), (final, tmp, handed off) or (final, pending)
        self.message: tuple[Any, ...] | None = None
        self.rejected: list[Any] = []
        self.size = 0  # bytes written
        self.last_sizes = last_sizes if last_sizes is not None else {}
        expected = self.last_sizes.get(partition, 0)
        fs = layout.fs
        if expected and (not fs.atomic_rename or fs.creates_parents):  # nothing remote
            upload = self._start()                   # before a write or an expect
            if upload.expect(expected):
                self.upload = upload
            else:  # nothing started: the first bytes start it, as without a hint
                self.message = None

    def write(self, records: list[Any]) -> None:
        data, rejected = self.layout.encode(records)
        self.rejected += rejected
        if data:
            if self.upload is None:
                self.upload = self._start()
            self.upload.write(data)
            self.size += len(data)

    def write_text(self, block: LineBlock) -> None:
        """Text lines go into the file as the bytes they were read as (UTF-8 already)."""
        if self.layout.format != "text":
            super().write_text(block)
            return
        data = block.terminated()
        if data:
            if self.upload is None:
                self.upload = self._start()
            self.upload.write(data)
            self.size += len(data)

    def _start(self) -> Upload:
        fs = self.layout.fs
        final = self.layout.final_path(self.batch, self.partition)
        if not fs.atomic_rename:  # the final name directly, published by the manifest
            self.message = (str(final), None)
            return fs.upload(str(final))
        if not fs.creates_parents:  # else the upload's CREATE makes the batch directory
            fs.mkdirs(os.path.dirname(final))
        tmp = str(self.layout.staging_path(final))
        self.message = (str(final), tmp)
        return fs.upload(tmp)

    def close(self) -> Any:
        self.last_sizes[self.partition] = self.size
        if self.upload is not None and not self.size:  # started early, no bytes came
            self.upload.abort()
            self.upload, self.message = None, None
        if self.upload is not None:
            assert self.message is not None
            final, tmp = self.message
            if self.layout.fs.atomic_rename:
                closing = self.upload.close_deferred(self.in_process)
                if closing is None:
                    self.layout.fs.sync(tmp)
                else:  # the commit finishes it before the rename
                    self.message = (final, tmp, closing)
            else:  # the commit publishes it (S3: completes the multipart upload there)
                self.message = (final, self.upload.close_deferred(self.in_process))
        return WriteResult(self.message, self.rejected) if self.rejected else self.message

    def abort(self) -> None:
        if self.upload is not None:
            self.upload.abort()


class FilesSink(StagedFileSink):
    """Strategy 2 of :mod:`etlcore.sink`: staged temp files renamed at commit."""

    def __init__(self, config: FilesSinkConfig, fs: FileSystem | None = None):
        self.fs = fs if fs is not None else filesystem_for(config.path, load_plugins=True)
        path = local_path(config.path)
        self.root: Path | str = Path(path) if not scheme_of(path) else path
        self.format = config.format
        self.ext = _EXTENSIONS[config.format]
        self.non_finite: NonFinite = config.non_finite
        # without a rename (S3) writers put parts under their final names, which a
        # replay planned differently might not overwrite: log the plan first then
        self.plan_before_write = not self.fs.atomic_rename

    def writer(self) -> SinkWriter:
        return FilesWriter(self)

    def open(self, ctx: SinkContext) -> None:
        """Resolve the root on the driver: the writer ships to workers with another cwd."""
        if isinstance(self.root, Path):
            self.root = self.root.absolute()

    def final_path(self, batch: BatchInfo, partition: int) -> Path:
        names = (f"batch-{batch.batch_id:012d}", f"part-{partition:05d}.{self.ext}")
        if isinstance(self.root, Path):
            return self.root.joinpath(*names)
        return self.fs.join(self.root, *names)  # type: ignore[return-value]  # a URL

    def manifest_path(self, batch: BatchInfo) -> str:
        return self.fs.join(self.root, MANIFESTS, f"batch-{batch.batch_id:012d}.json")

    def write_file(self, path: Path, records: list[Any]) -> None:
        """Write the records (runs on a worker; the writer fsyncs the file after)."""
        if isinstance(records, _Encoded):
            data = records[0] if records else b""
        else:  # called directly: nothing to hand rejections back to, so keep everything
            data, _ = self.encode(records, keep_all=True)
        with self.fs.open(path, "wb") as f:
            f.write(data)

    # -- encoding ---------------------------------------------------------------------
    def encode(self, records: list[Any], keep_all: bool = False) -> tuple[bytes, list[Any]]:
        """The file's bytes and ``(record, reason)`` for each record it cannot hold.

        The whole partition is encoded at once; only when that fails is each
        record tried alone, to find the ones at fault. ``keep_all`` writes
        those as their ``ascii()`` repr instead (a dead-letter sink loses nothing).
        """
        try:
            return self._encode_all(records), []
        except Exception:  # noqa: BLE001, S110 - some record cannot be written: find it below
            pass
        kept: list[Any] = []
        rejected: list[Any] = []
        for r in records:
            try:
                self._encode_all([r])
            except Exception as err:  # noqa: BLE001 - UnicodeEncodeError, RecursionError, ...
                if keep_all:
                    kept.append(safe_repr(r))
                else:
                    rejected.append((r, err.reason if isinstance(err, Unstorable)
                                     else self._why(err)))
            else:
                kept.append(r)
        if self.format == "parquet":  # the records' types conflict: first-seen types win
            kept, misfits, kind = _fit_schema(kept)
            return (_parquet_bytes(kept, kind) if kept else b""), rejected + misfits
        return self._encode_all(kept), rejected

    def _why(self, err: Exception) -> str:
        if isinstance(err, UnicodeEncodeError):
            char = err.object[err.start] if isinstance(err.object, str) else "?"
            return (f"holds U+{ord(char):04X} (a lone surrogate), which has no UTF-8 form"
                    if isinstance(char, str) and len(char) == 1 else "has no UTF-8 form")
        if isinstance(err, RecursionError):
            return "nested too deeply to write"
        return f"cannot be written as {self.format}: {type(err).__name__}: {err}"

    def _encode_all(self, records: list[Any]) -> bytes:
        if not records:
            return b""
        if self.format == "jsonl":
            text = "\n".join([json_text(r, self.non_finite) for r in records])
            return (text + "\n").encode("utf-8")
        if self.format == "csv":
            out = io.StringIO()
            header, rows = _csv_rows(records)
            writer = csv.writer(out, lineterminator="\n")
            if header is not None:
                writer.writerow(header)
            writer.writerows(rows)
            return out.getvalue().encode("utf-8")
        if self.format == "parquet":
            return _parquet_bytes(records)
        if set(map(type, records)) == {str}:  # lines already: one C-level join
            return ("\n".join(records) + "\n").encode("utf-8")
        return "".join([f"{r}\n" for r in records]).encode("utf-8")

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        if self.fs.atomic_rename:
            if not isinstance(self.fs, LocalFileSystem):  # the markers ``committed`` writes
                for d in sorted({os.path.dirname(m[0]) for m in messages if m}):
                    self.fs.prepare_empty(self.fs.join(d, "_SUCCESS"))
            self.fs.finish(self._handed_off(messages))  # closed under temp names first
            super().commit(batch, [m and m[:2] for m in messages])
            return
        written = [m for m in messages if m is not None]
        if not written:
            return  # like a local batch without records: nothing to publish
        parts = [final for final, _ in written]
        pending = [p for _, p in written if p is not None]
        if batch.replay:  # a killed attempt's uploads to these keys: never completed
            self.fs.discard_unfinished(parts, keep=pending)
        self.fs.finish(pending)  # the objects appear, then the manifest publishes them
        root = str(self.root).rstrip("/") + "/"
        manifest = {"batch": batch.batch_id,
                    "parts": [p[len(root):] if p.startswith(root) else p for p in parts]}
        self.fs.write(self.manifest_path(batch),
                      json.dumps(manifest, sort_keys=True).encode("utf-8"))

    def abort(self, batch: BatchInfo, messages: list[Any]) -> None:
        if self.fs.atomic_rename:
            self.fs.discard(self._handed_off(messages))
            super().abort(batch, [m and m[:2] for m in messages])
            return
        written = [m for m in messages if m is not None]
        self.fs.discard([p for _, p in written if p is not None])
        for final, pending in written:
            if pending is None:  # stored at once (one PutObject)
                self.fs.remove(final)

    @staticmethod
    def _handed_off(messages: list[Any]) -> list[Any]:
        """The uploads a rename store's writers handed off: ``(final, tmp, pending)``
        (None once it crossed processes: closed there)."""
        return [m[2] for m in messages if m is not None and len(m) > 2 and m[2] is not None]

    def committed(self, batch: BatchInfo, dirs: list[str]) -> None:
        """Mark each batch directory complete once all its parts are in place."""
        for d in dirs:
            if isinstance(self.fs, LocalFileSystem):
                with open(os.path.join(d, "_SUCCESS"), "wb") as f:
                    os.fsync(f.fileno())
                fsync_path(d)
            else:
                self.fs.write(self.fs.join(d, "_SUCCESS"), b"")
                self.fs.sync(d)
