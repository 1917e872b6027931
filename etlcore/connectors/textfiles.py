"""A file's bytes as records: text, JSON lines or CSV, gunzipped; bad input as Rejected.

Used by the directory source (:mod:`etlcore.connectors.directory`) on any
:class:`~etlcore.plugin.fs.FileSystem`. What becomes a dead letter, and the
origin it carries (``<path> line N (byte B, manifest entry E)``), is described
there.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etlcore.connectors.readahead import HOLD_PER_SLOT, ReadAhead, Window
from etlcore.connectors.splits import (
    FileCache,
    Part,
    RowGroups,
    Span,
    compression_of,
    head_of,
    parquet_rows,
    read_lines,
    read_row_groups,
    splittable,
)
from etlcore.jsondecode import JsonDecoder
from etlcore.lineblock import LineBlock
from etlcore.plugin.fs import FileSystem, filesystem_for
from etlcore.plugin.imports import require_module
from etlcore.source import Rejected
from etlcore.textblock import split_text, text_block

__all__ = ["Span", "compression_of", "parse_json_line", "read_files", "read_lines",
           "splittable"]


def part_of(name: str, published_only: bool) -> str:
    """The file a manifest name stands for (``published_only``: ``<part>#<manifest>``)."""
    return name.split("#", 1)[0] if published_only else name


_EOL = re.compile(r"\r\n|\r|\n")
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes
_SHOWN = 1024  # characters of an oversized row kept in its dead letter
_UNCLOSED = "csv: a quote opened on this line is never closed"


_LINES = JsonDecoder()  # untyped: any JSON value per line


def parse_json_line(line: str) -> Any:
    """One strict JSON value; ValueError with the reason otherwise."""
    return _LINES.decode(line)


def origin_of(path: str, index: int, base: int | None, line: int, at: int | None) -> str:
    """Where line ``line`` (from 0) of a file, or of the byte range from ``base``, lies:
    ``at`` is its first byte in the bytes read (None: unknown)."""
    byte: int | str = "?" if at is None else at
    if base is not None:  # line numbers before the range are unknown
        where = byte if at is None else base + at
        return (f"{path} byte {where} (line {line + 1} of the range from byte {base}, "
                f"manifest entry {index})")
    return f"{path} line {line + 1} (byte {byte}, manifest entry {index})"


@dataclass
class _File:
    """One file's text split into lines, and where each line starts in its bytes."""

    path: str
    index: int  # its entry in the manifest
    lines: list[str]
    _text: str | bytes  # bytes: the lines were split from them, decoded when text is asked
    encoding: str
    errors: str  # "strict", or "surrogateescape" when some bytes did not decode
    base: int | None = None  # a byte range's first byte in the file; None: the whole file
    _offsets: list[int] | None = None

    @property
    def text(self) -> str:
        """The file's text: decoded only when asked (a CSV file read whole, a dead letter's
        byte offset) if its lines were split straight from its bytes."""
        text = self._text
        if isinstance(text, bytes):
            text = self._text = text.decode(self.encoding)
        return text

    def offset(self, line: int) -> int | None:
        """Where ``line`` starts in the bytes read (None past the last line break)."""
        if self._offsets is None:  # computed once per file, and only for dead letters
            enc = codecs.getincrementalencoder(self.encoding)(self.errors)
            offsets, pos, total = [0], 0, 0
            for m in _EOL.finditer(self.text):
                total += len(enc.encode(self.text[pos:m.end()]))
                pos = m.end()
                offsets.append(total)
            self._offsets = offsets
        return self._offsets[line] if line < len(self._offsets) else None

    def origin(self, line: int) -> str:
        return origin_of(self.path, self.index, self.base, line, self.offset(line))

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


def _unzstd(data: bytes) -> bytes:
    """Every zstd frame of ``data`` (needs the ``zstandard`` package); ValueError if bad."""
    zstandard = require_module("zstandard", feature="reading zstd-compressed files")
    out, pos = [], 0
    while pos < len(data):
        d = zstandard.ZstdDecompressor().decompressobj()
        try:
            out.append(d.decompress(data[pos:]))
        except zstandard.ZstdError as err:
            raise ValueError(f"corrupt zstd data in the frame at byte {pos}: {err}") from None
        if not d.eof:
            raise ValueError(f"zstd data truncated in the frame at byte {pos} "
                             f"({len(data) - pos} bytes)")
        pos = len(data) - len(d.unused_data)
    return b"".join(out)


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's field names (``names``; None without a header line: ``_c0``, ``_c1``,
    ...), or why its header line is unreadable, and the byte after that line."""

    names: tuple[str, ...] | None
    error: str | None = None
    end: int = 0
    present: bool = True  # False: the file has no header line (``csv_header: false``)


NO_HEADER = CsvHeader(None, present=False)


csv_headers = FileCache(256)


def csv_header_of(fs: FileSystem, path: str, size: int, encoding: str) -> CsvHeader:
    """The header of a CSV file cut into ranges: its first non-blank row, read once per
    file and process (each range of the file needs it)."""
    return csv_headers.get(f"{path}\0{encoding}", size,
                           lambda: _read_csv_header(fs, path, size, encoding))


def _read_csv_header(fs: FileSystem, path: str, size: int, encoding: str) -> CsvHeader:
    head = head_of(fs, path, size)
    f = _load(head, path, -1, encoding, "none", base=0)
    if isinstance(f, Rejected):
        return CsvHeader(None, f"the header is unreadable: {f.reason}", len(head))
    for line, row in _csv_items(f, False):
        end = f.offset(line + 1)
        end = len(head) if end is None else end
        if isinstance(row, str):
            return CsvHeader(None, f"the header (line {line + 1}) is unreadable: {row}", end)
        if row:
            return CsvHeader(tuple(row), None, end)
    return CsvHeader(None, None, len(head))  # no row at all


def _fetch(fs: FileSystem, path: str, index: int, span: Part | None = None, fmt: str = "text",
           encoding: str = "utf-8", header: bool = True) -> Any:
    """What the parser needs, fetched (in a prefetch thread) or why it cannot be had: the
    file's bytes; for a byte range where its lines begin, their bytes and (CSV) the
    file's header; for Parquet the row groups' tables."""
    origin = f"{path} (manifest entry {index})"
    try:
        if fmt == "parquet":
            if isinstance(span, RowGroups):
                return read_row_groups(fs, path, index, span)
            return read_row_groups(fs, path, index, None, fs.read(path))
        if span is not None:
            lo, data = read_lines(fs, path, *span)
            given = None
            if fmt == "csv":
                given = csv_header_of(fs, path, span[2], encoding) if header else NO_HEADER
            return lo, data, given
        return fs.read(path)
    except FileNotFoundError:
        return Rejected(str(path), "file removed before the batch that reads it committed "
                        "(delete files only after their batch's commit)", origin)
    except OSError as err:
        return Rejected(str(path), f"cannot read the file: {err.strerror or err}", origin)


@dataclass(frozen=True)
class _Split:
    """A file's (or byte range's) lines, split on the thread that fetched them."""

    loaded: _File | Rejected
    base: int | None = None  # a byte range's first byte where its lines begin
    given: CsvHeader | None = None  # a CSV range's header, as fetched


def _fetch_split(fs: FileSystem, path: str, index: int, span: Part | None = None,
                 fmt: str = "text", encoding: str = "utf-8", header: bool = True,
                 compression: str = "auto") -> Any:
    """:func:`_fetch`, then the bytes decompressed and split into lines (:func:`_load`) on
    the same thread, so the files fetched ahead are split while the task works on the
    current one.

    The task's thread used to split each file after its wait for it (HDFS, 16 x 8 MB:
    9 ms a file beside the downloads, whose receive loops want the GIL back after every
    read, against 2-3 ms alone), and that thread is the read's critical path. The lines,
    the dead letters and their origins are the same: the same ``_load`` runs on the same
    bytes.
    """
    data = _fetch(fs, path, index, span, fmt, encoding, header)
    if isinstance(data, Rejected):
        return data
    if isinstance(data, tuple):  # a byte range: its lines, from ``base``
        base, raw, given = data
        return _Split(_load(raw, path, index, encoding, "none", base=base), base, given)
    return _Split(_load(data, path, index, encoding, compression))


def _range_header(given: CsvHeader | None, base: int) -> CsvHeader | None:
    """The header a CSV byte range keys its rows by; None when the range holds the header
    line itself (it is then read as a file's start)."""
    if given is not None and given.present and base < given.end:
        return None
    return given


def _decompressed(data: bytes, path: str, index: int, compression: str) -> bytes | Rejected:
    """A whole file's bytes, gunzipped or unzstd-ed as ``compression`` (and its name) say."""
    how = compression_of(path, compression)
    if how == "none":
        return data
    try:
        return _gunzip(data) if how == "gzip" else _unzstd(data)
    except ValueError as err:
        return Rejected(str(path), str(err), f"{path} (manifest entry {index})")


def _load(data: bytes, path: str, index: int, encoding: str,
          compression: str = "auto", base: int | None = None) -> _File | Rejected:
    """A file's (or a byte range's, starting at ``base``) text split into lines."""
    if base is None:
        unpacked = _decompressed(data, path, index, compression)
        if isinstance(unpacked, Rejected):
            return unpacked
        data = unpacked
    lines = split_text(data, encoding)  # one pass, no whole-file str (lines_c)
    if lines is not None:
        return _File(path, index, lines, data, encoding, "strict", base)
    errors = "strict"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        try:
            text, errors = data.decode(encoding, "surrogateescape"), "surrogateescape"
        except UnicodeDecodeError:  # e.g. UTF-16 with an odd byte: no line can be trusted
            shown = data[:_SHOWN].decode("latin-1")
            return Rejected(shown, f"not valid {encoding} text: {err.reason} at byte "
                            f"{err.start}; the whole file is refused",
                            f"{path} (manifest entry {index})")
    lines = text.split("\n") if "\r" not in text else _EOL.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return _File(path, index, lines, text, encoding, errors, base)


def _text(f: _File) -> Iterator[Any]:
    if f.errors == "strict":
        yield from f.lines
        return
    for i, line in enumerate(f.lines):
        why = f.bad(i)
        yield line if why is None else Rejected(f.raw(i), why, f.origin(i))


def _json(f: _File, decoder: JsonDecoder = _LINES) -> Iterator[Any]:
    """Each line's value, the file's lines decoded in one C pass (:mod:`etlcore.jsondecode`)."""
    bad: dict[int, str] = {}
    if f.errors != "strict":
        for i in range(len(f.lines)):
            why = f.bad(i)
            if why is not None:
                bad[i] = why
    lines = [i for i, line in enumerate(f.lines) if i not in bad and line.strip()]
    values, failed = decoder.decode_many([f.lines[i] for i in lines])
    if not bad and not failed:
        yield from values
        return
    reasons = dict(failed)
    good = iter(values)
    undecodable = sorted(bad)  # lines that are not text, yielded in file order
    u = 0
    for k, i in enumerate(lines):
        while u < len(undecodable) and undecodable[u] < i:
            j = undecodable[u]
            u += 1
            yield Rejected(f.raw(j), bad[j], f.origin(j))
        if k in reasons:
            yield Rejected(f.lines[i], reasons[k], f.origin(i))
        else:
            yield next(good)
    for j in undecodable[u:]:
        yield Rejected(f.raw(j), bad[j], f.origin(j))


def _json_block(block: LineBlock, decoder: JsonDecoder, path: str, index: int,
                base: int | None) -> Iterator[Any]:
    """Each line's value, the lines decoded where they lie in the block's buffer
    (``JsonDecoder.decode_lines``): what :func:`_json` gives for the same lines, blank
    lines skipped and misfits as dead letters with the same origins."""
    out, at, refused, reasons = decoder.decode_lines_at(block)
    if not at:
        yield from out
        return
    data, line, pos, taken = block.data, 0, block.start, 0
    for j, (i, raw, why) in enumerate(zip(at, refused, reasons, strict=True)):
        yield from out[taken:i - j]  # the records of the lines before it
        taken = i - j
        if not raw.strip():
            continue  # a blank line is no record (as :func:`_json`)
        while line < i:  # where line i starts: only walked up to refused lines
            pos = data.index(b"\n", pos) + 1
            line += 1
        yield Rejected(raw, why, origin_of(path, index, base, i, pos - block.start))
    yield from out[taken:]


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


def _csv(f: _File, multiline: bool, given: CsvHeader | None = None) -> Iterator[Any]:
    """Rows as dicts keyed by the header: the first non-blank row, or ``given`` (a byte
    range after the file's header line; ``NO_HEADER``: keys ``_c0``, ``_c1``, ...)."""
    header: list[str] | None = None
    header_error: str | None = None
    keyed = given is None or given.present
    if given is not None:
        header = list(given.names) if given.names is not None else None
        header_error = given.error
    width = len(header) if header is not None else 0
    for line, row in _csv_items(f, multiline):
        if header is not None and row.__class__ is list and 0 < len(row) <= width:
            record = dict(zip(header, row))  # noqa: B905 - a short row gets None below
            if len(row) < width:
                for name in header[len(row):]:
                    record[name] = None
            yield record
        elif isinstance(row, str):  # a reason
            if keyed and header is None and header_error is None:
                header_error = f"the header (line {line + 1}) is unreadable: {row}"
            shown = f.raw(line)
            if len(shown) > _SHOWN:
                shown = f"{shown[:_SHOWN]}... ({len(shown)} characters)"
            yield Rejected(shown, row, f.origin(line))
        elif not row:
            continue  # a blank line
        elif not keyed:
            yield {f"_c{i}": v for i, v in enumerate(row)}
        elif header is None and header_error is None:
            header, width = row, len(row)
        elif header is None:
            yield Rejected(f.raw(line), f"csv: {header_error}", f.origin(line))
        else:
            yield Rejected(f.raw(line), f"csv: the row has {len(row)} fields, the header "
                           f"{width}", f.origin(line))


def _fetched(fs: FileSystem, paths: list[tuple[int, str, Part | None]], fetch: Any,
             depth: int, ahead: ReadAhead | None,
             later: list[tuple[int, str, Part | None]]) -> Iterator[tuple[int, str, Any]]:
    """``(index, path, what fetch gave)`` for each path in order, ``depth`` fetches in
    flight whatever order they end in (:class:`~etlcore.connectors.readahead.Window`);
    with ``ahead``, the window runs on into ``later``, kept for the next read (keyed by
    what the fetch gives too: bytes, or lines split, ``_fetch_split``)."""
    pool = ThreadPoolExecutor(depth, thread_name_prefix="etlcore-prefetch") if ahead is None \
        else None
    kind = getattr(fetch, "func", fetch)
    kept: set[int] = set()  # entries whose fetch was kept ahead by an earlier read

    def own(k: int, index: int, path: str, span: Part | None) -> Future[Any]:
        future = ahead.take((kind, path, span)) if ahead is not None else None
        if future is not None:
            kept.add(k)
            return future
        return (ahead or pool).submit(fetch, fs, path, index, span)  # type: ignore[union-attr]

    starts: list[Callable[[], Future[Any] | None]] = [
        functools.partial(own, k, *entry) for k, entry in enumerate(paths)]
    if ahead is not None:
        starts += [functools.partial(ahead.keep, (kind, p, r), fetch, fs, p, i, r)
                   for i, p, r in later]
    window = Window(starts, len(paths), depth, depth * HOLD_PER_SLOT)
    try:
        for k, (index, path, span) in enumerate(paths):
            data = window.take(k).result()
            if k in kept and isinstance(data, Rejected):  # failed ahead of its batch: try now
                data = fetch(fs, path, index, span)
            yield index, path, data
    finally:
        window.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def read_files(folder: str | Path, names: list[str], fmt: str, encoding: str, first: int = 0,
               csv_multiline: bool = False, fs: FileSystem | None = None,
               compression: str = "auto", published_only: bool = False,
               spans: list[Part | None] | None = None,
               indexes: list[int] | None = None, csv_header: bool = True,
               blocks: bool = False, ahead: ReadAhead | None = None,
               later: list[tuple[int, str, Part | None]] | None = None,
               decoder: JsonDecoder | None = None) -> Iterator[Any]:
    """The records of the named files, in order, parsed as ``fmt``; bad input as Rejected.

    ``first`` is the manifest index of ``names[0]`` (it goes into origins), or
    ``indexes`` gives each name's. ``spans[k]``, when given and not None, is the
    part of ``names[k]`` to read: a byte range (:func:`read_lines`), its lines
    only, or Parquet row groups (:class:`~etlcore.connectors.splits.RowGroups`).

    ``blocks`` (text only): each file's (or range's) lines, decompressed, as one
    :class:`~etlcore.lineblock.LineBlock` of ``str`` lines where its bytes need no
    decoding (:func:`~etlcore.textblock.text_block`), else as one list of its records.

    ``decoder`` (json only): the values through this :class:`JsonDecoder` (a schema),
    decoded where the lines lie in the bytes read when they need no decoding.

    ``ahead`` (:mod:`etlcore.connectors.readahead`) fetches on its pool and, as
    the last files are on their way, starts the first of ``later`` (``(index,
    name, span)`` of the entries the next batch reads) for the next call.
    """
    fs = fs if fs is not None else filesystem_for(folder, load_plugins=True)
    where = indexes if indexes is not None else range(first, first + len(names))
    ranges = spans if spans is not None else [None] * len(names)
    paths = [(index, fs.join(folder, part_of(entry, published_only)), span)
             for index, entry, span in zip(where, names, ranges, strict=True)
             if part_of(entry, published_only)]
    if not paths:
        return
    raw_bytes = blocks or fmt == "parquet" or (decoder is not None and fmt == "json")
    if raw_bytes:  # blocks and schemas decode the bytes where they lie
        fetch = functools.partial(_fetch, fmt=fmt, encoding=encoding, header=csv_header)
    else:  # lines: split where they were fetched
        fetch = functools.partial(_fetch_split, fmt=fmt, encoding=encoding,
                                  header=csv_header, compression=compression)
    # the next files download while this one is parsed (I/O releases the GIL);
    # how many at once is the file system's ``read_ahead``
    depth = max(1, int(getattr(fs, "read_ahead", 1)))
    after = [(index, fs.join(folder, part_of(entry, published_only)), span)
             for index, entry, span in (later or []) if part_of(entry, published_only)]
    for index, path, data in _fetched(fs, paths, fetch, depth, ahead, after):
        given = None if csv_header else NO_HEADER
        if isinstance(data, Rejected):
            yield data
            continue
        if fmt == "parquet":
            yield from parquet_rows(data)
            continue
        if isinstance(data, _Split):
            if data.base is not None:
                given = _range_header(data.given, data.base)
            yield from _records(data.loaded, fmt, blocks, decoder, csv_multiline, given)
            continue
        base: int | None = None
        if isinstance(data, tuple):  # a byte range: its lines, from ``base``
            base, raw, given = data
            given = _range_header(given, base)
            how = "none"
        else:
            raw, how = data, compression
            if blocks or (decoder is not None and fmt == "json"):
                raw = _decompressed(data, path, index, compression)
                if isinstance(raw, Rejected):
                    yield [raw] if blocks else raw
                    continue
                how = "none"
        if blocks or (decoder is not None and fmt == "json"):
            block = text_block(raw, encoding)
            if block is not None:
                if blocks:
                    if block.count:
                        yield block
                else:
                    yield from _json_block(block, decoder, path, index, base)  # type: ignore[arg-type]
                continue
        loaded = _load(raw, path, index, encoding, how, base=base)
        yield from _records(loaded, fmt, blocks, decoder, csv_multiline, given)


def _records(loaded: _File | Rejected, fmt: str, blocks: bool, decoder: JsonDecoder | None,
             csv_multiline: bool, given: CsvHeader | None) -> Iterable[Any]:
    """A loaded file's records (``blocks``: one list of them), or its Rejected."""
    if isinstance(loaded, Rejected):
        return [[loaded] if blocks else loaded]
    if blocks:
        return [list(_text(loaded))]
    if fmt == "text" and loaded.errors == "strict":
        return loaded.lines  # no generator between (5 ms per 128 MB of 1 kB lines)
    if fmt == "text":
        return _text(loaded)
    if fmt == "json":
        return _json(loaded, decoder or _LINES)
    return _csv(loaded, csv_multiline, given)
