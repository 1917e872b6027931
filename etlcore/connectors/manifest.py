"""The directory source's manifest: discovered files in discovery order, replayable.

Every file the directory source (:mod:`etlcore.connectors.directory`) discovers
is appended here before any batch plans over it, so positions (indexes into
the manifest) name the same files on a replay. With a checkpoint on a local
path the manifest is a JSON-lines file, each line sealed with a checksum
(:func:`etlcore.checkpoint.seal`) and fsynced; a torn last line was never
planned over and is cut. On shared storage (``s3://``, ``hdfs://``), which
cannot append, each discovery writes one whole segment object
``manifest/<seq>.jsonl``, read back in order. Without a checkpoint it lives in
memory. An entry is a name, or a part of a large file: a byte range
``(start, end, size)`` or Parquet row groups (:mod:`etlcore.connectors.splits`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from etlcore.checkpoint import seal, unseal
from etlcore.ckptstore import RemoteStore
from etlcore.connectors.splits import Part, RowGroups
from etlcore.errors import CheckpointError

__all__ = ["Manifest", "read_names", "read_segments"]


def read_names(path: Path, offset: int = 0) -> tuple[list[tuple[str, Part | None]], int]:
    """Entries in the complete manifest lines after byte ``offset`` (each a name and, for a
    byte range of a file, ``(start, end, size)``), and the offset after them.

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
        names.append(_entry(line, where))
    return names, offset + len(complete)


def _entry(line: bytes, where: str) -> tuple[str, Part | None]:
    """One sealed manifest line as ``(name, span)``; damage is a CheckpointError naming it."""
    entry = unseal(line, where)
    name = entry.get("name")
    if not isinstance(name, str):
        raise CheckpointError(f"corrupt checkpoint file {where}: an entry without a name")
    return name, _span(entry)


def _span(entry: dict[str, Any]) -> Part | None:
    """A manifest entry's byte range ``(start, end, size)`` or Parquet row groups; None for
    a whole file."""
    if "row_groups" in entry:
        first, stop = entry["row_groups"]
        return RowGroups(int(first), int(stop), int(entry["size"]), int(entry["row_groups_of"]))
    if "range" not in entry:
        return None
    start, end = entry["range"]
    return int(start), int(end), int(entry["size"])


@functools.lru_cache(maxsize=16)
def _remote_store(url: str, pid: int) -> RemoteStore:
    """One store (and one client) per manifest URL and process: readers call per batch.

    ``pid`` keys the cache: a forked child makes its own client.
    """
    return RemoteStore(url)


def read_segments(url: str, after: int = 0) -> tuple[list[tuple[str, Part | None]], int]:
    """Entries in a remote manifest's segments numbered ``after`` and up, and the next number.

    Segments are whole objects (written in one step), so none is ever torn.
    """
    store = _remote_store(url, os.getpid())
    names: list[tuple[str, Part | None]] = []
    for seq in store.ids("", ".jsonl"):
        if seq < after:
            continue
        if seq != after:
            raise CheckpointError(f"corrupt checkpoint: manifest segment {after} of {url} "
                                  f"is missing (found {seq})")
        name = f"{seq:012d}.jsonl"
        for i, line in enumerate(store.read(name).splitlines()):
            names.append(_entry(line, f"{store.where(name)}, line {i + 1}"))
        after = seq + 1
    return names, after


class Manifest:
    """Discovered file names in discovery order; durable (fsynced JSON lines) with a folder.

    ``folder`` may be a URL (a checkpoint on shared storage): segments, see the module docs.
    """

    def __init__(self, folder: Path | str | None):
        self.names: list[str] = []
        self.spans: list[Part | None] = []
        self.known: set[str] = set()
        self.remote: RemoteStore | None = None
        self._next = 0  # the next segment's number (remote)
        if isinstance(folder, str):
            self.path: Path | str | None = f"{folder}/manifest"
            self.remote = RemoteStore(self.path)
            names, self._next = read_segments(self.path)
            for name, span in names:
                self._add(name, span)
            return
        self.path = folder / "manifest.jsonl" if folder is not None else None
        if self.path is not None and self.path.exists():
            names, size = read_names(self.path)
            if size < self.path.stat().st_size:  # cut the torn line before appending
                with open(self.path, "r+b") as f:
                    f.truncate(size)
            for name, span in names:
                self._add(name, span)

    def _add(self, name: str, span: Part | None) -> None:
        self.names.append(name)
        self.spans.append(span)
        self.known.add(name)

    def extend(self, entries: list[dict[str, Any]]) -> None:
        """Append entries (``{"name", "size", "mtime_ns"}``); durable before it returns."""
        if not entries:
            return
        if self.remote is not None:
            self.remote.write(f"{self._next:012d}.jsonl",
                              b"".join(seal(e) + b"\n" for e in entries))
            self._next += 1
        elif isinstance(self.path, Path):
            with open(self.path, "ab") as f:
                f.write(b"".join(seal(e) + b"\n" for e in entries))
                f.flush()
                os.fsync(f.fileno())
        for e in entries:
            self._add(e["name"], _span(e))
