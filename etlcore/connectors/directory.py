"""New files in a directory (Spark's ``textFileStream``), made replayable by a manifest.

Every file the source discovers is appended to a manifest, in discovery order,
before any batch plans over it; positions are indexes into that manifest, so a
replayed batch reads exactly the files it read the first time. With a
checkpoint the manifest is a JSON-lines file under the source's state
directory; without one it lives in memory.

Sides: discovery, the manifest and planning stay on the driver. With a
checkpoint, ``DirectoryReader`` (folder, manifest path, format) reads a planned
range on any worker that sees the same paths; without one the manifest exists
only in the driver's memory, so the driver reads (``DriverReader``).

Writers should write to a name starting with ``.`` or ``_`` and rename when
done (the write-then-rename convention): such names, and directories, are never
picked up, so a half-written file is never read. A name is read once: a file
re-created under a name already in the manifest is not read again. Files must
stay in place until the batches that read them are committed.

``max_records`` from rate control is ignored here: positions count files, not
records, and bounding a batch by records would need positions inside files.
Use ``max_files_per_batch`` to bound batches.

Formats: ``text`` yields lines without their newline; ``json`` yields one
parsed value per non-blank line, and a line that is not valid JSON is yielded
as the raw string, so a cleanse step can dead-letter it instead of the batch
failing; ``csv`` yields one dict per row (``csv.DictReader``, header first).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from etlcore.config import option
from etlcore.errors import ConfigError
from etlcore.source import DriverReader, Source, SourceContext, SourceReader


@dataclass
class DirectorySourceConfig:
    path: str = option(help="the directory to watch (not recursive)")
    format: Literal["text", "json", "csv"] = option("text", help="how to read each file")
    pattern: str = option("*", help="glob the file names must match")
    max_files_per_batch: int | None = option(None, help="at most this many new files per batch")
    encoding: str = option("utf-8", help="text encoding of the files")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.path:
            raise ConfigError(f"{prefix}path", "a directory path", self.path)
        if self.max_files_per_batch is not None and self.max_files_per_batch < 1:
            raise ConfigError(f"{prefix}max_files_per_batch", "a positive integer or null",
                              self.max_files_per_batch)


def read_names(path: Path, offset: int = 0) -> tuple[list[str], int]:
    """Names in the complete manifest lines after byte ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]  # a torn last line was never planned over
    return [json.loads(line)["name"] for line in complete.splitlines()], offset + len(complete)


def _check_range(start: int, end: int, names: list[str], known: int) -> list[str]:
    if len(names) < end - start:
        raise ValueError(f"directory source: range [{start}, {end}) is beyond the "
                         f"manifest ({known} files); the checkpoint "
                         "and the source state disagree")
    return names


def read_files(folder: Path, names: list[str], fmt: str, encoding: str) -> Iterator[Any]:
    """The records of the named files, in order, parsed as ``fmt``."""
    for name in names:
        with open(folder / name, encoding=encoding, newline="" if fmt == "csv" else None) as f:
            if fmt == "csv":
                yield from csv.DictReader(f)
                continue
            for line in f:
                line = line.removesuffix("\n")
                if fmt == "text":
                    yield line
                elif line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        yield line


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
                f.write(b"".join(json.dumps(e).encode() + b"\n" for e in entries))
                f.flush()
                os.fsync(f.fileno())
        for e in entries:
            self._add(e["name"])


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
    _cache: tuple[tuple[str, ...], int] = field(  # names read so far, byte offset after them
        default=((), 0), init=False, repr=False, compare=False)

    def read(self, partition: str, start: int, end: int) -> Iterator[Any]:
        names, offset = self._cache
        if end > len(names):  # new entries since the last read: parse only those
            more, offset = read_names(Path(self.manifest), offset)
            names = names + tuple(more)
            self._cache = (names, offset)  # one assignment: a racing read sees old or new
        picked = _check_range(start, end, list(names[start:end]), len(names))
        return read_files(Path(self.folder), picked, self.format, self.encoding)


class DirectorySource(Source):
    """One partition, ``"0"``; positions are manifest indexes; never exhausted."""

    def __init__(self, config: DirectorySourceConfig):
        self.config = config
        self.folder = Path(config.path)
        self.manifest = Manifest(None)
        self._lock = threading.Lock()

    def open(self, ctx: SourceContext) -> None:
        self.manifest = Manifest(ctx.state_dir())

    def reader(self) -> SourceReader:
        """Workers read the manifest file; without a checkpoint it is only in memory here.

        Paths are made absolute here: a worker's working directory is not the driver's.
        """
        if self.manifest.path is None:
            return DriverReader(self)
        c = self.config
        return DirectoryReader(os.path.abspath(self.folder), os.path.abspath(self.manifest.path),
                               c.format, c.encoding)

    def partitions(self) -> list[str]:
        return ["0"]

    def initial_position(self, partition: str) -> int:
        return 0

    def discover(self) -> list[dict[str, Any]]:
        """Files not seen before, sorted by mtime then name (one scan's discovery order)."""
        found = []
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for entry in entries:
            name = entry.name
            if (name.startswith((".", "_")) or name in self.manifest.known
                    or not fnmatch.fnmatchcase(name, self.config.pattern)):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:  # renamed or removed while we looked
                continue
            found.append({"name": name, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        found.sort(key=lambda e: (e["mtime_ns"], e["name"]))
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
        return read_files(self.folder, names, self.config.format, self.config.encoding)
