"""Large files read in parts: byte ranges of line formats and CSV, row groups of Parquet.

The directory source's planner (driver) cuts a large file into parts and logs
them in its manifest, so a replay reads the same parts; the readers (workers)
read only their part, with the file system's ranged ``read``:

- text, JSON lines and CSV: byte ranges whose lines follow Hadoop's
  LineRecordReader rule (:func:`read_lines`). A CSV range takes the field names
  from the file's header line (:func:`head_of`, read once per file and worker),
  as Spark's CSV reader does with ``multiLine`` false; quoted fields that span
  lines (``csv_multiline``) cannot be cut at newlines, so such files are whole.
- Parquet: groups of consecutive row groups (:func:`row_group_ranges`), found
  from the footer; a reader fetches the footer and its row groups' column
  chunks (:class:`RangedFile`), never the whole file.
- gzip and zstd files are never cut: a stream decodes only from its start.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from etlcore.plugin.fs import FileSystem
from etlcore.plugin.imports import require_module
from etlcore.source import Rejected

Span = tuple[int, int, int]  # a byte range [start, end) of a file of ``size`` bytes


class RowGroups(NamedTuple):
    """Row groups ``[first, stop)`` of a Parquet file of ``size`` bytes with ``count``."""

    first: int
    stop: int
    size: int
    count: int


Part = Span | RowGroups


def compression_of(path: str, compression: str) -> str:
    """``gzip``, ``zstd`` or ``none`` for ``path`` (``auto``: by its extension)."""
    if compression != "auto":
        return compression
    if path.endswith(".gz"):
        return "gzip"
    return "zstd" if path.endswith((".zst", ".zstd")) else "none"


def splittable(fmt: str, encoding: str, compression: str, csv_multiline: bool = False) -> bool:
    """Whether files so read may be cut into byte ranges at newlines.

    Line formats and CSV whose rows are one line each (not ``csv_multiline``),
    not compressed (a gzip or zstd stream starts only at its beginning), and in
    an encoding where a newline is the byte ``\\n`` and no other character holds
    that byte (UTF-8, ASCII, Latin-1; not UTF-16).
    """
    if fmt not in ("text", "json", "csv") or compression != "none":
        return False
    if fmt == "csv" and csv_multiline:
        return False
    try:
        return "\n".encode(encoding) == b"\n" and "a\n".encode(encoding) == b"a\n"
    except LookupError:
        return False


def read_lines(fs: FileSystem, path: str, start: int, end: int, size: int,
               probe: int = 64 * 1024) -> tuple[int, bytes]:
    """Where the lines a byte range ``[start, end)`` owns begin, and their bytes.

    Hadoop's LineRecordReader rule: a range skips through the first newline at
    or after its start (unless it starts at 0) and reads through the first
    newline at or after its end (or to the end of the file). The cut points are
    the same function of an offset for the range that ends there and the one
    that starts there, so consecutive ranges give every line exactly once; an
    empty range, or one inside a single long line, gives nothing.
    """
    if end <= start:
        return start, b""
    data = fs.read(path, start, end - start)
    lo = start
    if start > 0:
        i = data.find(b"\n")
        if i < 0:  # the next line starts at or after ``end``: a later range's
            return start, b""
        lo = start + i + 1
        data = data[i + 1:]
    if end >= size or len(data) < end - lo:  # the file ends inside the range
        return lo, data
    rest = []
    pos = end
    while pos < size:  # the last line runs on past ``end``, through its newline
        chunk = fs.read(path, pos, min(probe, size - pos))
        if not chunk:
            break
        i = chunk.find(b"\n")
        if i >= 0:
            rest.append(chunk[:i + 1])
            break
        rest.append(chunk)
        pos += len(chunk)
        probe *= 2
    return lo, b"".join([data, *rest]) if rest else data


def head_of(fs: FileSystem, path: str, size: int, probe: int = 4096) -> bytes:
    """The file's bytes through its first line holding more than line breaks (a CSV
    header's line), read in growing ranged reads."""
    data = b""
    while len(data) < size:
        chunk = fs.read(path, len(data), min(probe, size - len(data)))
        if not chunk:
            break
        data += chunk
        blank = len(data) - len(data.lstrip(b"\r\n"))
        i = data.find(b"\n", blank)
        if blank < len(data) and i >= 0:
            return data[:i + 1]
        probe *= 2
    return data


def split(entries: list[dict[str, Any]], split_bytes: int | None) -> list[dict[str, Any]]:
    """Entries of files larger than ``split_bytes`` cut into about equal byte ranges.

    The ranges go into the manifest, so a replay reads the same ones; a range's
    lines are those :func:`read_lines` gives it.
    """
    if split_bytes is None:
        return entries
    out = []
    for e in entries:
        size = int(e["size"])
        n = -(-size // split_bytes)
        if n <= 1:
            out.append(e)
            continue
        cuts = [size * i // n for i in range(n + 1)]
        out.extend({**e, "range": [cuts[i], cuts[i + 1]]} for i in range(n))
    return out


def row_group_ranges(sizes: list[int], split_bytes: int) -> list[tuple[int, int]]:
    """Consecutive row groups in about ``split_bytes`` parts: as Spark's Parquet splits,
    a row group goes to the part of the file its middle byte falls in."""
    total = sum(sizes)
    n = -(-total // split_bytes)
    if n <= 1 or len(sizes) <= 1:
        return [(0, len(sizes))]
    out: list[tuple[int, int]] = []
    acc, current = 0, -1
    for i, s in enumerate(sizes):
        part = min(n - 1, (2 * acc + s) * n // (2 * total))
        acc += s
        if part != current:
            out.append((i, i + 1))
            current = part
        else:
            out[-1] = (out[-1][0], i + 1)
    return out


class RangedFile(io.RawIOBase):
    """A read-only file object whose reads are the file system's ranged reads.

    pyarrow reads a Parquet footer and column chunks through it, so a reader
    fetches only the bytes it needs. ``failed`` keeps the file system's own
    error: pyarrow reports a corrupt page as OSError too.
    """

    def __init__(self, fs: FileSystem, path: str, size: int):
        super().__init__()
        self.fs, self.path, self.size = fs, path, size
        self.pos = 0
        self.failed: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, self.size)[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        try:
            data = self.fs.read(self.path, self.pos, n)
        except Exception as err:
            self.failed = err
            raise
        self.pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class CorruptParquet(ValueError):
    """pyarrow could not read a Parquet footer (not the file system's error)."""


class FileCache:
    """What a file's parts share (a Parquet footer, a CSV header), kept per process for
    the ``size`` most recent (path, size) keys: every range of a file needs it once.

    Keyed by path (a URL names its store) and size, not by the file system, which
    need not be hashable.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._held: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, size: int, make: Callable[[], Any]) -> Any:
        key = (path, size)
        with self._lock:
            if key in self._held:
                self._held.move_to_end(key)
                return self._held[key]
        value = make()  # outside the lock: a read may take a while; two may race, same value
        with self._lock:
            self._held[key] = value
            while len(self._held) > self.size:
                self._held.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


_TAIL = 8 * 1024  # bytes read from a Parquet file's end to find its footer
footers = FileCache()


def _footer(fs: FileSystem, path: str, size: int) -> Any:
    """A Parquet file's metadata, read once per (file, size) in this process; CorruptParquet
    when pyarrow cannot read it, the file system's own errors as they are."""
    return footers.get(path, size, lambda: _read_footer(fs, path, size))


def _read_footer(fs: FileSystem, path: str, size: int) -> Any:
    pq = require_module("pyarrow.parquet", "pyarrow", feature="reading Parquet files")
    # the footer is at the end: its length and "PAR1"; one small read usually holds it
    tail = fs.read(path, max(0, size - _TAIL), min(size, _TAIL))
    if len(tail) < 12 or tail[-4:] != b"PAR1":
        raise CorruptParquet("Parquet magic bytes not found in the footer")
    n = int.from_bytes(tail[-8:-4], "little")
    if n + 12 > size:
        raise CorruptParquet(f"the footer's length ({n} bytes) exceeds the file ({size})")
    footer = tail[-8 - n:-8] if n + 8 <= len(tail) else fs.read(path, size - 8 - n, n)
    try:  # pyarrow parses the footer alone, framed as a file
        meta = pq.read_metadata(io.BytesIO(b"PAR1" + footer + tail[-8:]))
    except Exception as err:  # noqa: BLE001 - ArrowInvalid, OSError: a bad footer
        raise CorruptParquet(str(err)) from None
    return meta


def _row_group_bytes(meta: Any, i: int) -> tuple[int, int]:
    """Where row group ``i``'s column chunks start in the file, and their compressed size."""
    rg = meta.row_group(i)
    starts, size = [], 0
    for j in range(rg.num_columns):
        col = rg.column(j)
        starts.append(col.dictionary_page_offset if col.has_dictionary_page
                      else col.data_page_offset)
        size += col.total_compressed_size
    return min(starts, default=0), size


def parquet_parts(fs: FileSystem, path: str, size: int,
                  split_bytes: int) -> list[tuple[int, int, int]] | None:
    """Row-group ranges ``(first, stop, count)`` of a Parquet file larger than
    ``split_bytes``; None to read it whole (small, one part, gone, or a footer
    pyarrow cannot read: the reader then makes the dead letter)."""
    if size <= split_bytes:
        return None
    try:
        meta = _footer(fs, path, size)
    except (FileNotFoundError, CorruptParquet):
        return None
    count = meta.num_row_groups
    ranges = row_group_ranges([_row_group_bytes(meta, i)[1] for i in range(count)],
                              split_bytes)
    return None if len(ranges) <= 1 else [(a, b, count) for a, b in ranges]


def plan_parquet(fs: FileSystem, folder: str, entries: list[dict[str, Any]], split_bytes: int,
                 cut: list[bool], threads: int = 1) -> list[dict[str, Any]]:
    """Entries of large Parquet files (those with ``cut`` true: not compressed) cut into
    row-group ranges; the footers are read in parallel."""
    def parts(k: int) -> list[tuple[int, int, int]] | None:
        e = entries[k]
        if not cut[k]:
            return None
        return parquet_parts(fs, fs.join(folder, e["name"]), int(e["size"]), split_bytes)

    big = [k for k, e in enumerate(entries) if cut[k] and int(e["size"]) > split_bytes]
    if not big:
        return entries
    with ThreadPoolExecutor(max(1, min(threads, len(big)))) as pool:
        found = list(pool.map(parts, range(len(entries))))
    out = []
    for e, groups in zip(entries, found, strict=True):
        if groups is None:
            out.append(e)
        else:
            out.extend({**e, "row_groups": [a, b], "row_groups_of": n} for a, b, n in groups)
    return out


def plan_parts(fs: FileSystem, folder: str, found: list[dict[str, Any]], split_bytes: int,
               fmt: str, encoding: str, compression: str,
               csv_multiline: bool) -> list[dict[str, Any]]:
    """Listed entries with large uncompressed files cut into parts: byte ranges, or
    Parquet row groups from the footers (read here, on the driver)."""
    plain = [compression_of(e["name"], compression) == "none" for e in found]
    if fmt == "parquet":
        return plan_parquet(fs, folder, found, split_bytes, plain,
                            int(getattr(fs, "read_ahead", 1)))
    if not splittable(fmt, encoding, "none", csv_multiline):
        return found
    return [part for e, p in zip(found, plain, strict=True)
            for part in (split([e], split_bytes) if p else [e])]


def read_row_groups(fs: FileSystem, path: str, index: int, groups: RowGroups | None,
                    data: bytes | None = None) -> list[Any]:
    """Tables of a Parquet file's row groups (``groups``, or all of ``data``, the whole
    file), each unreadable one a Rejected naming it; the file system's errors raise."""
    pq = require_module("pyarrow.parquet", "pyarrow", feature="reading Parquet files")
    origin = f"{path} (manifest entry {index})"
    source: Any = io.BytesIO(data)
    meta = None
    if groups is not None:
        try:
            meta = _footer(fs, path, groups.size)
        except CorruptParquet as err:
            return [Rejected(str(path), f"not a readable Parquet file: {err}", origin)]
        source = RangedFile(fs, path, groups.size)
    try:
        pf = pq.ParquetFile(source, metadata=meta, pre_buffer=True)
    except Exception as err:  # noqa: BLE001 - ArrowInvalid, OSError: a bad file, not a bug
        if isinstance(source, RangedFile) and source.failed is not None:
            raise source.failed from None
        return [Rejected(str(path), f"not a readable Parquet file: {err}", origin)]
    meta = pf.metadata
    count = meta.num_row_groups
    first, stop = (0, count) if groups is None else (groups.first, groups.stop)
    if groups is not None and count != groups.count:
        return [Rejected(str(path), f"not a readable Parquet file: it has {count} row groups, "
                         f"{groups.count} when the batch was planned", origin)]
    out: list[Any] = []
    for i in range(first, stop):
        try:
            out.append(pf.read_row_group(i))
        except Exception as err:  # noqa: BLE001 - a corrupt page or chunk
            if isinstance(source, RangedFile) and source.failed is not None:
                raise source.failed from None
            at = _row_group_bytes(meta, i)[0]
            out.append(Rejected(str(path), f"not a readable Parquet file: row group {i}: {err}",
                                f"{path} row group {i} (byte {at}, manifest entry {index})"))
    return out


def parquet_rows(tables: list[Any]) -> Iterator[Any]:
    """The rows of :func:`read_row_groups`' tables as dicts, its Rejected as they are."""
    for t in tables:
        if isinstance(t, Rejected):
            yield t
        else:
            yield from t.to_pylist()
