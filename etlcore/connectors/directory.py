"""New files in a directory (Spark's ``textFileStream``), made replayable by a manifest.

Every file the source discovers is appended to a manifest, in discovery order,
before any batch plans over it; positions are indexes into that manifest, so a
replayed batch reads exactly the files it read the first time. With a
checkpoint the manifest is a JSON-lines file under the source's state
directory, each line sealed with a checksum; without one it lives in memory.

Storage goes through :mod:`etlcore.plugin.fs`, picked by the path's URL scheme:
local paths here, ``s3://bucket/prefix`` with the ``etlcore-s3`` plugin, any
scheme a plugin registers. Names are listed once per batch (only those after
the greatest seen with ``listing: after_last``, S3's start-after, for names
written in increasing order); ``min_age_seconds`` leaves files younger than
that for a later batch. ``published_only`` reads the output of a files sink on
a store without rename: only the parts listed by its ``_manifests/`` objects,
so parts of unpublished batches are never read. Files ending in ``.gz`` are
gunzipped (``compression``); a corrupt one is a dead letter.

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

Formats, and what becomes a dead letter (reason and origin ``file line N (byte
B)``) instead of stopping the job:

- ``text``: one record per line, without its line break (``\\n``, ``\\r\\n`` or
  ``\\r``). A line that is not valid in ``encoding`` is a dead letter holding the
  line with the bad bytes backslash-escaped.
- ``json``: one value per non-blank line, strict JSON (RFC 8259): a line that
  does not parse, uses ``NaN``/``Infinity``, nests deeper than the recursion
  limit, or holds a string with a lone surrogate (no UTF-8 form) is a dead letter.
- ``csv``: one dict per row, keyed by the header (the first line). By default a
  row is one line: a quote left open is a dead letter for its line instead of
  swallowing the rows after it; ``csv_multiline: true`` lets quoted fields span
  lines. A row with more fields than the header, or a field over the csv
  module's limit (128 KiB), is a dead letter; missing fields are None.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import io
import json
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from etlcore.checkpoint import seal, unseal
from etlcore.config import check_encoding, option
from etlcore.encoding import Unstorable, check_utf8
from etlcore.errors import CheckpointError, ConfigError
from etlcore.plugin.fs import FileInfo, FileSystem, filesystem_for, local_path
from etlcore.source import DriverReader, Rejected, Source, SourceContext, SourceReader


@dataclass
class DirectorySourceConfig:
    path: str = option(help="the directory to watch (not recursive)")
    format: Literal["text", "json", "csv"] = option("text", help="how to read each file")
    pattern: str = option("*", help="glob the file names must match")
    max_files_per_batch: int | None = option(None, help="at most this many new files per batch",
                                             identity=False)
    encoding: str = option("utf-8", help="text encoding of the files")
    csv_multiline: bool = option(False, help="csv: quoted fields may span lines")
    compression: Literal["auto", "none", "gzip"] = option(
        "auto", help="auto: gunzip names ending in .gz; gzip: every file; none")
    min_age_seconds: float = option(0.0, help="leave files modified less than this long ago "
                                    "for a later batch", identity=False)
    listing: Literal["full", "after_last"] = option(
        "full", help="full: list every name each batch; after_last: only names after the "
        "greatest seen (start-after; for names written in increasing order)")
    published_only: bool = option(False, help="read a files sink's output on a store without "
                                  "rename: only parts its _manifests/ objects publish")

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


# -- the manifest ------------------------------------------------------------------------

def read_names(path: Path, offset: int = 0) -> tuple[list[str], int]:
    """Names in the complete manifest lines after byte ``offset``, and the offset after them.

    Each line is sealed (:func:`etlcore.checkpoint.seal`); a damaged one is a
    CheckpointError naming the file and line, not a bare JSON error.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]  # a torn last line was never planned over
    names = []
    pos = offset
    for i, line in enumerate(complete.splitlines()):
        where = f"{path}, line {i + 1}" if offset == 0 else f"{path}, entry at byte {pos}"
        pos += len(line) + 1
        name = unseal(line, where).get("name")
        if not isinstance(name, str):
            raise CheckpointError(f"corrupt checkpoint file {where}: an entry without a name")
        names.append(name)
    return names, offset + len(complete)


def _check_range(start: int, end: int, names: list[str], known: int) -> list[str]:
    if len(names) < end - start:
        raise ValueError(f"directory source: range [{start}, {end}) is beyond the "
                         f"manifest ({known} files); the checkpoint "
                         "and the source state disagree")
    return names


class Manifest:
    """Discovered file names in discovery order; durable (fsynced JSON lines) with a folder."""

    def __init__(self, folder: Path | None):
        self.names: list[str] = []
        self.known: set[str] = set()
        self.path = folder / "manifest.jsonl" if folder is not None else None
        if self.path is not None and self.path.exists():
            names, size = read_names(self.path)
            if size < self.path.stat().st_size:  # cut the torn line before appending
                with open(self.path, "r+b") as f:
                    f.truncate(size)
            for name in names:
                self._add(name)

    def _add(self, name: str) -> None:
        self.names.append(name)
        self.known.add(name)

    def extend(self, entries: list[dict[str, Any]]) -> None:
        """Append entries (``{"name", "size", "mtime_ns"}``); durable before it returns."""
        if not entries:
            return
        if self.path is not None:
            with open(self.path, "ab") as f:
                f.write(b"".join(seal(e) + b"\n" for e in entries))
                f.flush()
                os.fsync(f.fileno())
        for e in entries:
            self._add(e["name"])


# -- reading files -----------------------------------------------------------------------

MANIFESTS = "_manifests"  # where a files sink on a store without rename publishes batches


def part_of(name: str, published_only: bool) -> str:
    """The file a manifest name stands for (``published_only``: ``<part>#<manifest>``)."""
    return name.split("#", 1)[0] if published_only else name


_EOL = re.compile(r"\r\n|\r|\n")
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SHOWN = 1024  # characters of an oversized row kept in its dead letter
_UNCLOSED = "csv: a quote opened on this line is never closed"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (only Python accepts it)")


_JSON = json.JSONDecoder(parse_constant=_no_constant)


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def parse_json_line(line: str) -> Any:
    """One strict JSON value; ValueError with the reason otherwise."""
    try:
        value = _JSON.decode(line)
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None
    except ValueError as err:
        raise ValueError(f"invalid JSON: {err}") from None
    if _SURROGATE_ESCAPE.search(line):  # rare: only then look for a lone surrogate
        try:
            for s in _strings(value):
                check_utf8(s, "a JSON string")
        except Unstorable as err:
            raise ValueError(f"invalid JSON text: {err.reason}") from None
    return value


@dataclass
class _File:
    """One file's text split into lines, and where each line starts in its bytes."""

    path: str
    index: int  # its entry in the manifest
    lines: list[str]
    text: str
    encoding: str
    errors: str  # "strict", or "surrogateescape" when some bytes did not decode
    _offsets: list[int] | None = None

    def origin(self, line: int) -> str:
        if self._offsets is None:  # computed once per file, and only for dead letters
            enc = codecs.getincrementalencoder(self.encoding)(self.errors)
            offsets, pos, total = [0], 0, 0
            for m in _EOL.finditer(self.text):
                total += len(enc.encode(self.text[pos:m.end()]))
                pos = m.end()
                offsets.append(total)
            self._offsets = offsets
        byte = self._offsets[line] if line < len(self._offsets) else "?"
        return f"{self.path} line {line + 1} (byte {byte}, manifest entry {self.index})"

    def raw(self, line: int) -> str:
        """The line as read, undecodable bytes backslash-escaped (storable in any sink)."""
        text = self.lines[line]
        if self.errors == "strict":
            return text
        return text.encode(self.encoding, "surrogateescape").decode(self.encoding,
                                                                   "backslashreplace")

    def bad(self, line: int) -> str | None:
        """Why the line did not decode, or None."""
        if self.errors == "strict":
            return None
        m = _BAD_BYTE.search(self.lines[line])
        if m is None:
            return None
        return (f"not valid {self.encoding} text: byte 0x{ord(m.group()) - 0xDC00:02x} at "
                f"column {m.start() + 1} does not decode")


def _gunzip(data: bytes) -> bytes:
    """Every gzip member of ``data``; ValueError with the reason and the compressed offset."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(data[pos:]))
            out.append(d.flush())
        except zlib.error as err:
            raise ValueError(f"corrupt gzip data in the member at byte {pos}: {err}") from None
        if not d.eof:
            raise ValueError(f"gzip data truncated in the member at byte {pos} "
                             f"({len(data) - pos} bytes)")
        pos = len(data) - len(d.unused_data)
        if not d.unused_data.strip(b"\0"):
            break
    return b"".join(out)


def _load(fs: FileSystem, path: str, index: int, encoding: str,
          compression: str = "auto") -> _File | Rejected:
    origin = f"{path} (manifest entry {index})"
    try:
        data = fs.read(path)
    except FileNotFoundError:
        return Rejected(str(path), "file removed before the batch that reads it committed "
                        "(delete files only after their batch's commit)", origin)
    except OSError as err:
        return Rejected(str(path), f"cannot read the file: {err.strerror or err}", origin)
    if compression == "gzip" or (compression == "auto" and path.endswith(".gz")):
        try:
            data = _gunzip(data)
        except ValueError as err:
            return Rejected(str(path), str(err), origin)
    errors = "strict"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        try:
            text, errors = data.decode(encoding, "surrogateescape"), "surrogateescape"
        except UnicodeDecodeError:  # e.g. UTF-16 with an odd byte: no line can be trusted
            shown = data[:_SHOWN].decode("latin-1")
            return Rejected(shown, f"not valid {encoding} text: {err.reason} at byte "
                            f"{err.start}; the whole file is refused", origin)
    lines = text.split("\n") if "\r" not in text else _EOL.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return _File(path, index, lines, text, encoding, errors)


def _text(f: _File) -> Iterator[Any]:
    if f.errors == "strict":
        yield from f.lines
        return
    for i, line in enumerate(f.lines):
        why = f.bad(i)
        yield line if why is None else Rejected(f.raw(i), why, f.origin(i))


def _json(f: _File) -> Iterator[Any]:
    for i, line in enumerate(f.lines):
        if f.errors != "strict":
            why = f.bad(i)
            if why is not None:
                yield Rejected(f.raw(i), why, f.origin(i))
                continue
        if not line.strip():
            continue
        try:
            yield parse_json_line(line)
        except ValueError as err:
            yield Rejected(line, str(err), f.origin(i))


def _csv_segment(f: _File, start: int, stop: int,
                 multiline: bool) -> Iterator[tuple[int, list[str] | str]]:
    """``(first line, row)`` or ``(first line, reason)`` for lines ``[start, stop)``."""
    lines = f.lines
    pos = start
    while pos < stop:
        if pos == 0 and stop == len(lines):  # the whole file: let csv split the lines itself
            source: Iterator[str] = io.StringIO(f.text, newline="")
        else:
            source = (lines[k] + "\n" for k in range(pos, stop))
        reader = csv.reader(source)
        consumed, restart, last_num = 0, stop, stop - pos
        try:
            for row in reader:
                num = reader.line_num
                if num - consumed != 1 or num == last_num:  # spans lines, or ends the input
                    first = pos + consumed
                    # a row that ran to the end of the input may have done so inside a quote
                    unclosed = num == last_num and sum(
                        lines[k].count('"') for k in range(first, pos + num)) % 2 == 1
                    if unclosed or (num - consumed != 1 and not multiline):
                        yield first, _UNCLOSED
                        restart = first + 1  # the lines it swallowed are rows of their own
                        break
                yield pos + consumed, row
                consumed = num
        except csv.Error as err:
            first = pos + consumed
            spanned = pos + reader.line_num - 1 > first
            yield first, _UNCLOSED if spanned and not multiline else f"csv: {err}"
            restart = first + 1 if not multiline else max(first + 1, pos + reader.line_num)
        pos = restart


def _csv_items(f: _File, multiline: bool) -> Iterator[tuple[int, list[str] | str]]:
    """Rows and reasons of the whole file; undecodable lines are reasons of their own."""
    if f.errors == "strict":
        yield from _csv_segment(f, 0, len(f.lines), multiline)
        return
    n, i = len(f.lines), 0
    while i < n:
        why = f.bad(i)
        if why is not None:
            yield i, why
            i += 1
            continue
        j = i
        while j < n and f.bad(j) is None:
            j += 1
        yield from _csv_segment(f, i, j, multiline)
        i = j


def _csv(f: _File, multiline: bool) -> Iterator[Any]:
    header: list[str] | None = None
    header_error: str | None = None
    width = 0
    for line, row in _csv_items(f, multiline):
        if header is not None and row.__class__ is list and 0 < len(row) <= width:
            record = dict(zip(header, row))  # noqa: B905 - a short row gets None below
            if len(row) < width:
                for name in header[len(row):]:
                    record[name] = None
            yield record
        elif isinstance(row, str):  # a reason
            if header is None and header_error is None:
                header_error = f"the header (line {line + 1}) is unreadable: {row}"
            shown = f.raw(line)
            if len(shown) > _SHOWN:
                shown = f"{shown[:_SHOWN]}... ({len(shown)} characters)"
            yield Rejected(shown, row, f.origin(line))
        elif not row:
            continue  # a blank line
        elif header is None and header_error is None:
            header, width = row, len(row)
        elif header is None:
            yield Rejected(f.raw(line), f"csv: {header_error}", f.origin(line))
        else:
            yield Rejected(f.raw(line), f"csv: the row has {len(row)} fields, the header "
                           f"{width}", f.origin(line))


def read_files(folder: str | Path, names: list[str], fmt: str, encoding: str, first: int = 0,
               csv_multiline: bool = False, fs: FileSystem | None = None,
               compression: str = "auto", published_only: bool = False) -> Iterator[Any]:
    """The records of the named files, in order, parsed as ``fmt``; bad input as Rejected.

    ``first`` is the manifest index of ``names[0]`` (it goes into origins).
    """
    fs = fs if fs is not None else filesystem_for(folder, load_plugins=True)
    for k, entry in enumerate(names):
        name = part_of(entry, published_only)
        if not name:
            continue  # a published batch without parts
        loaded = _load(fs, fs.join(folder, name), first + k, encoding, compression)
        if isinstance(loaded, Rejected):
            yield loaded
        elif fmt == "text":
            yield from _text(loaded)
        elif fmt == "json":
            yield from _json(loaded)
        else:
            yield from _csv(loaded, csv_multiline)


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
    _cache: tuple[tuple[str, ...], int] = field(  # names read so far, byte offset after them
        default=((), 0), init=False, repr=False, compare=False)

    def read(self, partition: str, start: int, end: int) -> Iterator[Any]:
        names, offset = self._cache
        if end > len(names):  # new entries since the last read: parse only those
            more, offset = read_names(Path(self.manifest), offset)
            names = names + tuple(more)
            self._cache = (names, offset)  # one assignment: a racing read sees old or new
        picked = _check_range(start, end, list(names[start:end]), len(names))
        return read_files(self.folder, picked, self.format, self.encoding, start,
                          self.csv_multiline, self.fs, self.compression, self.published_only)


class DirectorySource(Source):
    """One partition, ``"0"``; positions are manifest indexes; never exhausted."""

    input_retained: ClassVar[bool] = False  # processed files may be deleted (module docs)

    def __init__(self, config: DirectorySourceConfig, fs: FileSystem | None = None):
        self.config = config
        self.fs = fs if fs is not None else filesystem_for(config.path, load_plugins=True)
        self.folder = local_path(config.path)
        self.manifest = Manifest(None)
        self._lock = threading.Lock()
        self._last = ""  # the greatest name listed (listing: after_last)

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
        return ident

    def open(self, ctx: SourceContext) -> None:
        self.manifest = Manifest(ctx.state_dir())
        self._last = max(self._listed_names(self.manifest.names), default="")

    def reader(self) -> SourceReader:
        """Workers read the manifest file; without a checkpoint it is only in memory here.

        Paths are made absolute here: a worker's working directory is not the driver's.
        """
        if self.manifest.path is None:
            return DriverReader(self)
        c = self.config
        return DirectoryReader(self.fs.absolute(self.folder), os.path.abspath(self.manifest.path),
                               c.format, c.encoding, c.csv_multiline, self.fs, c.compression,
                               c.published_only)

    def partitions(self) -> list[str]:
        return ["0"]

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

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        with self._lock:
            self.manifest.extend(self.discover())
            end = len(self.manifest.names)
        if self.config.max_files_per_batch is not None:
            end = min(end, start + self.config.max_files_per_batch)
        return max(start, end)

    def estimate(self, partition: str, start: int, end: int) -> int | None:
        return None  # positions count files, not records

    def read(self, partition: str, start: int, end: int) -> Iterator[Any]:
        """Without a checkpoint (``DriverReader``): names from the in-memory manifest."""
        with self._lock:
            names = self.manifest.names[start:end]
            known = len(self.manifest.names)
        _check_range(start, end, names, known)
        c = self.config
        return read_files(self.folder, names, c.format, c.encoding, start, c.csv_multiline,
                          self.fs, c.compression, c.published_only)
