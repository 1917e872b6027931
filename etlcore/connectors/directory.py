"""New files in a directory (Spark's ``textFileStream``), made replayable by a manifest.

Every file the source discovers is appended to a manifest
(:mod:`etlcore.connectors.manifest`), in discovery order, before any batch
plans over it; positions are indexes into that manifest, so a replayed batch
reads exactly the files it read the first time. With a
checkpoint the manifest is a JSON-lines file under the source's state
directory, each line sealed with a checksum; without one it lives in memory.
With a checkpoint on shared storage (``s3://``, ``hdfs://``), which cannot
append, each discovery that finds files writes one segment object
``manifest/<seq>.jsonl`` (the same sealed lines), read back in order.

Storage goes through :mod:`etlcore.plugin.fs`, picked by the path's URL scheme:
local paths here, ``s3://bucket/prefix`` with the ``etlcore-s3`` plugin, any
scheme a plugin registers. Names are listed once per batch (only those after
the greatest seen with ``listing: after_last``, S3's start-after, for names
written in increasing order), but not while the files listed before fill the
batch: a backlog drains without a listing per batch. ``min_age_seconds`` leaves
files younger than that for a later batch. ``published_only`` reads the output of a files sink on
a store without rename: only the parts listed by its ``_manifests/`` objects,
so parts of unpublished batches are never read. Files ending in ``.gz`` are
gunzipped, ``.zst`` decompressed with ``zstandard`` (``compression``); a
corrupt or truncated one is a dead letter.

Sides: discovery, the manifest and planning stay on the driver. With a
checkpoint, ``DirectoryReader`` (folder, manifest path, format) reads a planned
range on any worker that sees the same paths; without one the manifest exists
only in the driver's memory, so the driver reads (``DriverReader``).

Writers should write to a name starting with ``.`` or ``_`` and rename when
done (the write-then-rename convention): such names, and directories, are never
picked up, so a half-written file is never read. A name is read once: a file
re-created under a name already in the manifest is not read again.

Retention: a file may be deleted once the batch that read it is committed
(``commits/<batch>.json`` exists in the checkpoint). Because of that the
source declares ``input_retained = False`` and the engine snapshots keyed state
at every commit, so recovery never reads committed files again. A file that
is gone when its (uncommitted) batch reads it becomes a dead letter.

``max_records`` from rate control is ignored here: positions count files, not
records, and bounding a batch by records would need positions inside files.
Use ``max_files_per_batch`` to bound batches.

Large files: with ``split_bytes``, an uncompressed file larger than that enters
the manifest as parts of about that size, written before any batch plans over
them, so a replay reads exactly the same parts (:mod:`etlcore.connectors.splits`):

- text, JSON lines and CSV: byte ranges (``{"name", "size", "range": [start,
  end]}``). A range's lines follow Hadoop's LineRecordReader rule
  (:func:`etlcore.connectors.textfiles.read_lines`): it skips through the first
  newline at or after its start unless it starts at 0, and reads through the
  first newline at or after its end, so the ranges of a file give each line
  once. A CSV range keys its rows by the file's header line, read from the
  file's start once per file and worker (Spark's CSV reader with ``multiLine``
  false). With ``csv_multiline: true`` a quoted field may hold a newline, so a
  cut at a newline could fall inside a row: such files are read whole.
- Parquet: ranges of row groups (``"row_groups": [first, stop]`` and
  ``"row_groups_of"``), planned on the driver from the file's footer (a ranged
  read of the file's end); a row group goes to the part its middle byte falls
  in, as Spark's Parquet splits. A reader fetches the footer and its row
  groups' column chunks with ranged reads (S3 ranged GETs, WebHDFS OPEN with
  offset and length), never the whole file.
- gzip and zstd files are never cut (a stream decodes only from its start).

With ``partitions: N`` every batch is N tasks: the manifest entries of the batch
are dealt round robin by index (entry ``k`` to partition ``k % N``), and all
partitions end each batch at the same index. N is part of the checkpoint's
identity; ``split_bytes`` is not (parts already logged are read as logged).

Formats, and what becomes a dead letter (reason and origin ``file line N (byte
B)``) instead of stopping the job:

- ``text``: one record per line, without its line break (``\\n``, ``\\r\\n`` or
  ``\\r``). A line that is not valid in ``encoding`` is a dead letter holding the
  line with the bad bytes backslash-escaped.
- ``json``: one value per non-blank line, strict JSON (RFC 8259): a line that
  does not parse, uses ``NaN``/``Infinity``, nests deeper than the recursion
  limit, or holds a string with a lone surrogate (no UTF-8 form) is a dead letter.
  With ``json_schema`` each value is parsed, validated and projected in one C pass
  (:mod:`etlcore.jsondecode`), where the line lies in the bytes read when they need no
  decoding (``JsonDecoder.decode_lines``): a line that does not fit is a dead letter
  with the decoder's reason.
- ``parquet``: one dict per row (needs pyarrow), read row group by row group; a
  file whose footer pyarrow cannot read is one dead letter holding its path, an
  unreadable row group one holding the path, with origin ``file row group G
  (byte B, manifest entry E)``; the other row groups are read.
- ``csv``: one dict per row, keyed by the header (the first non-blank line), or
  with ``csv_header: false`` by ``_c0``, ``_c1``, ... (Spark's names; every line
  is a row). By default a row is one line: a quote left open is a dead letter
  for its line instead of swallowing the rows after it; ``csv_multiline: true``
  lets quoted fields span lines. A row with more fields than the header, or a
  field over the csv module's limit (128 KiB), is a dead letter; missing fields
  are None. In a byte range the origin is ``file byte B (line k of the range
  from byte R, manifest entry E)``.

Lines where they lie: a ``text`` reader hands each file's (or range's) lines, after
decompression, as one :class:`~etlcore.lineblock.LineBlock` of ``str`` lines when its
bytes need no decoding (``read_blocks``): to a ``files`` sink as bytes, to
``parse_json`` as a buffer it decodes in place. A file with ``\r`` line breaks or bytes
that do not decode gives its records (and dead letters) as a list instead.
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from etlcore.ckptstore import is_remote
from etlcore.config import check_encoding, option
from etlcore.connectors.manifest import Manifest, read_names, read_segments
from etlcore.connectors.readahead import HOLD_PER_SLOT, ReadAhead
from etlcore.connectors.splits import Part, plan_parts, split
from etlcore.connectors.textfiles import parse_json_line, read_files
from etlcore.errors import ConfigError
from etlcore.jsondecode import JsonDecoder
from etlcore.plugin.fs import FileInfo, FileSystem, filesystem_for, local_path
from etlcore.source import DriverReader, Source, SourceContext, SourceReader

_AHEAD_LOCK = threading.Lock()
MANIFESTS = "_manifests"  # where a files sink on a store without rename publishes batches
__all__ = ["MANIFESTS", "DirectoryReader", "DirectorySource", "DirectorySourceConfig",
           "parse_json_line", "read_files", "split"]


@dataclass
class DirectorySourceConfig:
    path: str = option(help="the directory to watch (not recursive)")
    format: Literal["text", "json", "csv", "parquet"] = option(
        "text", help="how to read each file (parquet: rows as dicts, needs pyarrow)")
    pattern: str = option("*", help="glob the file names must match")
    max_files_per_batch: int | None = option(None, help="at most this many new files per batch",
                                             identity=False)
    encoding: str = option("utf-8", help="text encoding of the files")
    csv_multiline: bool = option(False, help="csv: quoted fields may span lines (such files "
                                 "are never cut into byte ranges by split_bytes)")
    csv_header: bool = option(True, help="csv: the first line names the fields; false: "
                              "every line is a row, keyed _c0, _c1, ... (Spark's names)")
    compression: Literal["auto", "none", "gzip", "zstd"] = option(
        "auto", help="auto: gunzip names ending in .gz, unzstd .zst/.zstd (needs the "
        "zstandard package); gzip or zstd: every file; none")
    min_age_seconds: float = option(0.0, help="leave files modified less than this long ago "
                                    "for a later batch", identity=False)
    listing: Literal["full", "after_last"] = option(
        "full", help="full: list every name each batch; after_last: only names after the "
        "greatest seen (start-after; for names written in increasing order)")
    published_only: bool = option(False, help="read a files sink's output on a store without "
                                  "rename: only parts its _manifests/ objects publish")
    split_bytes: int | None = option(
        None, help="uncompressed files larger than this are read in parts of about this "
        "size, each on its own: text, json and csv (not csv_multiline) by byte ranges split "
        "at newlines, parquet by row groups; gzip and zstd never; null: whole files",
        identity=False)
    partitions: int = option(1, help="read each batch's files and byte ranges as this many "
                             "tasks (in parallel on the processes and spark runners)")
    json_schema: dict[str, str] | None = option(
        None, help="with format json: field -> type (int, float, str, bool, list, dict, any); "
        "each line is parsed, validated and projected in one C pass where it lies in the "
        "bytes read, and a line that does not fit is a dead letter with the decoder's reason")
    json_required: list[str] | None = option(
        None, help="fields of json_schema that must be present and not null (default: all); "
        "the others may be missing or null and come out as null")
    json_output: Literal["dict", "tuple"] = option(
        "dict", help="with json_schema: records as dicts of the schema's fields, or as tuples "
        "in the schema's order")

    def json_decoder(self, key: str = "source.directory") -> JsonDecoder | None:
        """The decoder of ``format: json`` lines through ``json_schema`` (None: untyped)."""
        schema = self.json_schema
        if schema is None:
            return None
        required = list(schema) if self.json_required is None else self.json_required
        return JsonDecoder(schema, required, self.json_output, key=key,
                           names=("json_schema", "json_required", "json_output"))

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.path:
            raise ConfigError(f"{prefix}path", "a directory path", self.path)
        if self.min_age_seconds < 0:
            raise ConfigError(f"{prefix}min_age_seconds", "a number of seconds >= 0",
                              self.min_age_seconds)
        if self.max_files_per_batch is not None and self.max_files_per_batch < 1:
            raise ConfigError(f"{prefix}max_files_per_batch", "a positive integer or null",
                              self.max_files_per_batch)
        check_encoding(f"{prefix}encoding", self.encoding)
        if self.split_bytes is not None and (
                isinstance(self.split_bytes, bool) or self.split_bytes < 1):
            raise ConfigError(f"{prefix}split_bytes", "a positive number of bytes or null",
                              self.split_bytes)
        if isinstance(self.partitions, bool) or self.partitions < 1:
            raise ConfigError(f"{prefix}partitions", "a positive integer", self.partitions)
        if self.json_schema is not None:
            if self.format != "json":
                raise ConfigError(f"{prefix}json_schema", "no schema unless format is 'json'",
                                  self.json_schema)
            self.json_decoder(where)  # a ConfigError naming the field


# -- planning over the manifest (:mod:`etlcore.connectors.manifest`) ---------------------

def batch_end(names: list[str], start: int, max_files: int | None) -> int:
    """The end of a batch from ``start``: every entry, or those of ``max_files`` files
    (the byte ranges of one file sit together in the manifest)."""
    if max_files is None:
        return max(start, len(names))
    end, files = start, 0
    while end < len(names):
        if end == start or names[end] != names[end - 1]:
            if files == max_files:
                break
            files += 1
        end += 1
    return end


def _mine(partition: str, start: int, end: int, partitions: int) -> list[int]:
    """The manifest indexes of ``[start, end)`` that ``partition`` reads (round robin)."""
    p = int(partition)
    return [k for k in range(start, end) if k % partitions == p]


def _check_range(start: int, end: int, names: list[str], known: int) -> list[str]:
    if len(names) < end - start:
        raise ValueError(f"directory source: range [{start}, {end}) is beyond the "
                         f"manifest ({known} files); the checkpoint "
                         "and the source state disagree")
    return names


@dataclass
class DirectoryReader(SourceReader):
    """Reads a planned range of files, finding their names in the manifest file.

    The driver appends to the manifest (fsynced) before it plans over the new
    entries, so every planned index is in the file by the time a task reads it.
    Workers must see the checkpoint and the watched directory at the same paths.
    """

    folder: str
    manifest: str
    format: str = "text"
    encoding: str = "utf-8"
    csv_multiline: bool = False
    fs: FileSystem | None = None  # None: picked by the folder's scheme on the worker
    compression: str = "auto"
    published_only: bool = False
    partitions: int = 1
    csv_header: bool = True
    decoder: JsonDecoder | None = None  # format json with a schema
    _cache: tuple[tuple[tuple[str, Part | None], ...], int] = field(  # entries read so far,
        default=((), 0), init=False, repr=False, compare=False)     # byte offset after them
    _ahead: ReadAhead | None = field(default=None, init=False, repr=False, compare=False)

    def read(self, partition: str, start: int, end: int) -> Iterator[Any]:
        return self._read(partition, start, end, False)

    def read_blocks(self, partition: str, start: int, end: int) -> Iterator[Any] | None:
        """Text files' (and byte ranges') lines, decompressed, as blocks of ``str`` lines in
        the bytes read where they need no decoding (:func:`etlcore.textblock.text_block`),
        else as lists of records; None for other formats (their records are not lines)."""
        return self._read(partition, start, end, True) if self.format == "text" else None

    def _read(self, partition: str, start: int, end: int, blocks: bool) -> Iterator[Any]:
        entries, offset = self._cache
        if end > len(entries):  # new entries since the last read: parse only those
            if is_remote(self.manifest):  # offset: the next segment's number
                more, offset = read_segments(self.manifest, offset)
            else:
                more, offset = read_names(Path(self.manifest), offset)
            entries = entries + tuple(more)
            self._cache = (entries, offset)  # one assignment: a racing read sees old or new
        _check_range(start, end, list(entries[start:end]), len(entries))
        mine = _mine(partition, start, end, self.partitions)
        ahead, later = self._read_ahead(), []
        if ahead is not None:  # the entries this partition reads next, if any are listed
            later = [(k, *entries[k]) for k in _mine(partition, end, len(entries),
                                                     self.partitions)[:ahead.limit]]
        return read_files(self.folder, [entries[k][0] for k in mine], self.format,
                          self.encoding, 0, self.csv_multiline, self.fs, self.compression,
                          self.published_only, [entries[k][1] for k in mine], mine,
                          self.csv_header, blocks, ahead, later, self.decoder)

    def _read_ahead(self) -> ReadAhead | None:
        """The pool fetching past a batch's end (remote stores: ``read_ahead`` > 1)."""
        depth = int(getattr(self.fs, "read_ahead", 1)) if self.fs is not None else 1
        if depth <= 1:
            return None
        with _AHEAD_LOCK:
            if self._ahead is None:
                self._ahead = ReadAhead(depth * self.partitions,
                                        depth * HOLD_PER_SLOT * self.partitions)
            return self._ahead

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "_ahead"}  # never a pool

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state, _ahead=None)

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None


class DirectorySource(Source):
    """One partition, ``"0"``; positions are manifest indexes; never exhausted."""

    input_retained: ClassVar[bool] = False  # processed files may be deleted (module docs)
    # plan() lists the folder and appends to the manifest; a batch is the manifest's
    # entries from the start it is given, and nothing here hears of commits (no
    # on_batch_committed, no deletes: a file may go only after its batch's commit record).
    # Planning n+1 before n's commit is durable extends the manifest early, which a
    # driver killed before n+1's plan is logged leaves as in the serial loop: the
    # restart replays n's logged ranges and plans n+1 over the same entries.
    plans_ahead: ClassVar[bool] = True

    def __init__(self, config: DirectorySourceConfig, fs: FileSystem | None = None):
        self.config = config
        self.fs = fs if fs is not None else filesystem_for(config.path, load_plugins=True)
        self.folder = local_path(config.path)
        self.manifest = Manifest(None)
        self._lock = threading.Lock()
        self._last = ""  # the greatest name listed (listing: after_last)
        self._decoder = config.json_decoder() if config.format == "json" else None

    def identity(self) -> dict[str, Any]:
        """The directory (absolute), what is read there and how; not the batch bound.

        A checkpoint's manifest names files of one directory: pointed at another,
        the job would skip every file whose name it has seen.
        """
        c = self.config
        ident = {"path": self.fs.absolute(c.path), "format": c.format, "pattern": c.pattern,
                 "encoding": codecs.lookup(c.encoding).name, "csv_multiline": c.csv_multiline}
        if c.compression != "auto" or c.published_only:  # older checkpoints stay valid
            ident.update(compression=c.compression, published_only=c.published_only)
        if not c.csv_header:
            ident["csv_header"] = False
        if c.partitions != 1:  # entries are dealt to partitions by index: fixed per checkpoint
            ident["partitions"] = c.partitions
        if c.json_schema is not None:  # what a record is
            ident.update(json_schema=c.json_schema, json_required=c.json_required,
                         json_output=c.json_output)
        return ident

    def open(self, ctx: SourceContext) -> None:
        self.manifest = Manifest(ctx.state_location())
        self._last = max(self._listed_names(self.manifest.names), default="")

    def reader(self) -> SourceReader:
        """Workers read the manifest file; without a checkpoint it is only in memory here.

        Paths are made absolute here: a worker's working directory is not the driver's.
        """
        if self.manifest.path is None:
            return DriverReader(self)
        c = self.config
        where = self.manifest.path
        manifest = where if isinstance(where, str) else os.path.abspath(where)
        return DirectoryReader(self.fs.absolute(self.folder), manifest,
                               c.format, c.encoding, c.csv_multiline, self.fs, c.compression,
                               c.published_only, c.partitions, c.csv_header, self._decoder)

    def partitions(self) -> list[str]:
        return [str(p) for p in range(self.config.partitions)]

    def initial_position(self, partition: str) -> int:
        return 0

    def _listed_names(self, names: list[str]) -> list[str]:
        """The listing names behind manifest names (``published_only``: the manifests')."""
        if not self.config.published_only:
            return names
        return [n.split("#", 1)[1] for n in names if "#" in n]

    def _wanted(self, info: FileInfo) -> bool:
        name = info.name
        return not (name.startswith((".", "_")) or name in self.manifest.known
                    or not fnmatch.fnmatchcase(name, self.config.pattern))

    def _young(self, info: FileInfo) -> bool:
        age = self.config.min_age_seconds
        return bool(age) and info.mtime_ns > time.time_ns() - int(age * 1e9)

    def discover(self) -> list[dict[str, Any]]:
        """Files not seen before, sorted by mtime then name (one scan's discovery order)."""
        if self.config.published_only:
            return self._discover_published()
        after_last = self.config.listing == "after_last"
        after = self._last if after_last and self._last else None
        listed = sorted(self.fs.list(self.folder, start_after=after), key=lambda i: i.name)
        found, last = [], self._last
        for info in listed:
            if self._young(info):
                if after_last:
                    break  # a later name must not pass it: start-after would skip it
                continue
            last = max(last, info.name)
            if self._wanted(info):
                found.append({"name": info.name, "size": info.size, "mtime_ns": info.mtime_ns})
        self._last = last
        found.sort(key=lambda e: (e["mtime_ns"], e["name"]))
        return found

    def _discover_published(self) -> list[dict[str, Any]]:
        """Parts the new ``_manifests/*.json`` of a files sink publish, batch by batch.

        A manifest name enters the source's manifest as ``<part>#<manifest>`` so a
        restart knows which manifests it has read; the part is read from the folder.
        """
        folder = self.fs.join(self.folder, MANIFESTS)
        seen = set(self._listed_names(self.manifest.names))
        after = max(seen) if seen and self.config.listing == "after_last" else None
        found = []
        for info in sorted(self.fs.list(folder, start_after=after), key=lambda i: i.name):
            if info.name in seen or not info.name.endswith(".json") or self._young(info):
                continue
            published = json.loads(self.fs.read(self.fs.join(folder, info.name)))
            for part in published["parts"]:
                if fnmatch.fnmatchcase(part.rsplit("/", 1)[-1], self.config.pattern):
                    found.append({"name": f"{part}#{info.name}", "size": 0, "mtime_ns": 0})
            if not published["parts"]:  # remember an empty batch was read
                found.append({"name": f"#{info.name}", "size": 0, "mtime_ns": 0})
        return found

    def _backlog_fills(self, start: int) -> bool:
        """Whether the files already in the manifest fill a batch from ``start``.

        Then a listing cannot change the batch (what it finds goes after them), so a
        backlog drains without a listing per batch, as Spark's file source keeps the
        files it listed beyond ``maxFilesPerTrigger`` for the next batches. A listing
        was a NameNode (or S3) round trip on the driver between two batches, while the
        reads ahead ran dry.
        """
        most = self.config.max_files_per_batch
        if most is None:
            return False
        names = self.manifest.names
        end = batch_end(names, start, most)
        return len(set(names[start:end])) >= most

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        """Partition "0" lists the directory (unless the files listed already fill the
        batch, ``_backlog_fills``); every partition ends the batch at the same manifest
        index (each reads its share of the entries between, ``_mine``)."""
        c = self.config
        with self._lock:
            if partition == "0" and not self._backlog_fills(start):
                found = self.discover()
                if c.split_bytes is not None and not c.published_only:
                    found = plan_parts(self.fs, self.folder, found, c.split_bytes, c.format,
                                       c.encoding, c.compression, c.csv_multiline)
                self.manifest.extend(found)
            return batch_end(self.manifest.names, start, c.max_files_per_batch)

    def estimate(self, partition: str, start: int, end: int) -> int | None:
        return None  # positions count files, not records

    def read(self, partition: str, start: int, end: int) -> Iterator[Any]:
        """Without a checkpoint (``DriverReader``): names from the in-memory manifest."""
        with self._lock:
            names = self.manifest.names[start:end]
            known = len(self.manifest.names)
            spans = self.manifest.spans[start:end]
        _check_range(start, end, names, known)
        c = self.config
        mine = _mine(partition, start, end, c.partitions)
        return read_files(self.folder, [names[k - start] for k in mine], c.format, c.encoding,
                          0, c.csv_multiline, self.fs, c.compression, c.published_only,
                          [spans[k - start] for k in mine], mine, c.csv_header,
                          decoder=self._decoder)
