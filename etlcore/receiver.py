"""Make a push-based receiver replayable with a write-ahead log.

Log lines are JSON records; a line starting with ``!`` is a dead letter (input
the receiver could not decode, kept with its reason and origin so it is
acknowledged, counted and reported like any record, never silently dropped).

A socket, a Flume Avro client or a Twitter stream cannot be asked for "the
records between positions 10 and 20" again after a crash. A receiver stores
what it gets with :meth:`ReceiverSource.store`, which appends to a log in the
checkpoint directory and fsyncs *before* returning; only then may the receiver
acknowledge to its sender. Batches are then planned over log offsets exactly
like a replayable source (Spark's receiver write-ahead log).

Sides: the receiver threads and the log's writer stay on the driver. With a
checkpoint, :class:`ReceiverLogReader` (just the log's path) reads planned
offsets from the log file on any worker that sees the checkpoint; without one
the log is in the driver's memory and the driver reads (``DriverReader``).
"""

from __future__ import annotations

import json
import os
import threading
from abc import abstractmethod
from array import array
from pathlib import Path
from typing import Any, ClassVar

from etlcore.encoding import printable, safe_repr
from etlcore.errors import CheckpointError
from etlcore.source import (
    DriverReader,
    OffsetSource,
    Rejected,
    SourceContext,
    SourceReader,
)


class LineIndex:
    """Byte offsets of the complete lines of an append-only JSON-lines file."""

    def __init__(self, path: Path):
        self.path = path
        self.starts = array("q")  # where line i begins
        self.size = 0  # where the last complete line ends

    def __len__(self) -> int:
        return len(self.starts)

    def scan(self) -> int:
        """Index the complete lines appended since the last scan; returns the line count."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.size)
                data = f.read()
        except FileNotFoundError:
            return len(self.starts)
        end = data.rfind(b"\n") + 1  # a line still being written is not a line yet
        pos = 0
        while pos < end:
            self.starts.append(self.size + pos)
            pos = data.index(b"\n", pos) + 1
        self.size += end
        return len(self.starts)

    def add(self, lengths: list[int]) -> None:
        """Index lines of these byte lengths just appended at ``size``."""
        for n in lengths:
            self.starts.append(self.size)
            self.size += n

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The bytes ``[begin, stop)`` holding lines ``[start, end)``."""
        if end > len(self.starts) or start > end:
            raise ValueError(f"receiver log {self.path}: range [{start}, {end}) is beyond the "
                             f"log ({len(self.starts)} records); the checkpoint and the log "
                             "disagree")
        if start == end:
            return 0, 0
        stop = self.starts[end] if end < len(self.starts) else self.size
        return self.starts[start], stop

    def read(self, begin: int, stop: int, first: int = 0, partition: str = "0") -> list[Any]:
        """The records of bytes ``[begin, stop)``, the first being record ``first``."""
        if begin == stop:
            return []
        with open(self.path, "rb") as f:
            f.seek(begin)
            data = f.read(stop - begin)
        lines = data.split(b"\n")[:-1]
        try:
            return [json.loads(line) for line in lines]
        except (ValueError, RecursionError):  # a rejected entry, or damage: look line by line
            return [_decode(line, self.path, partition, first + i) for i, line in enumerate(lines)]


_REJECTED = b"!"  # a logged line that is not a record but a dead letter (no JSON starts so)


def rejected_line(rejected: Rejected) -> bytes:
    """A log line for input the receiver could not decode (so the reader dead-letters it)."""
    entry = {"record": rejected.record, "reason": rejected.reason, "origin": rejected.origin}
    try:
        text = json.dumps(entry)
    except (ValueError, TypeError, RecursionError):
        text = json.dumps({**entry, "record": safe_repr(rejected.record)}, default=safe_repr)
    return _REJECTED + text.encode() + b"\n"


def _decode(line: bytes, path: Path, partition: str, offset: int) -> Any:
    where = f"partition {partition}, offset {offset}"
    try:
        if line.startswith(_REJECTED):
            entry = json.loads(line[1:])
            origin = entry.get("origin")
            return Rejected(entry["record"], entry["reason"],
                            f"{where} ({origin})" if origin else where)
        return json.loads(line)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise CheckpointError(f"corrupt receiver log {path}: record at {where} does not "
                              f"parse ({type(err).__name__}: {err})") from None


def _log_line(record: Any) -> bytes:
    """A record as one log line; one that JSON cannot hold is logged as a dead letter."""
    if type(record) is Rejected:
        return rejected_line(record)
    try:
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as err:
        reason = f"the receiver cannot log it as JSON: {type(err).__name__}: {err}"
        return rejected_line(Rejected(safe_repr(record), printable(reason)))


class ReceiverLog:
    """An append-only JSON-lines log with an offset index (in memory without a directory)."""

    def __init__(self, folder: Path | None):
        self._lock = threading.Lock()
        self._records: list[Any] | None = None
        self._file = None
        self.path: Path | None = None
        if folder is None:
            self._records = []
            return
        self.path = folder / "received.jsonl"
        self.index = LineIndex(self.path)
        self._recover()
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for appends

    def _recover(self) -> None:
        """Index complete lines; cut a torn last line left by a crash mid-write."""
        self.index.scan()
        assert self.path is not None
        if self.path.exists() and self.path.stat().st_size > self.index.size:
            with open(self.path, "r+b") as f:
                f.truncate(self.index.size)
                f.flush()
                os.fsync(f.fileno())

    def append(self, records: list[Any]) -> int:
        """Durably add records (``Rejected`` ones become dead letters); the new length."""
        with self._lock:
            if self._records is not None:
                n = len(self._records)
                self._records.extend(
                    r if type(r) is not Rejected else Rejected(
                        r.record, r.reason, f"partition 0, offset {n + i}"
                        + (f" ({r.origin})" if r.origin else ""))
                    for i, r in enumerate(records))
                return len(self._records)
            assert self._file is not None
            lines = [_log_line(r) for r in records]
            self._file.write(b"".join(lines))
            self._file.flush()
            os.fsync(self._file.fileno())
            self.index.add([len(line) for line in lines])
            return len(self.index)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records) if self._records is not None else len(self.index)

    def read(self, start: int, end: int) -> list[Any]:
        with self._lock:
            if self._records is not None:
                return self._records[start:end]
            begin, stop = self.index.span(start, end)
        return self.index.read(begin, stop, start)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ReceiverLogReader(SourceReader):
    """Reads planned offsets from the log file; picklable (the path and an index).

    The driver fsyncs records to the log before it plans over them, so a planned
    range is always in the file. The index grows from what it last scanned; one
    partition means one read at a time, so it needs no lock.
    """

    def __init__(self, path: str):
        self.path = path
        self._index = LineIndex(Path(path))

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        if end > len(self._index):
            self._index.scan()
        return self._index.read(*self._index.span(start, end), start, partition)


class ReceiverSource(OffsetSource):
    """Base for push sources: subclasses start receiving in ``start_receiving``.

    Records must be JSON-serialisable. Input the receiver cannot decode should
    be stored as :class:`~etlcore.source.Rejected` (the raw input, the reason,
    where it came from): it is logged like a record, acknowledged like one, and
    read back as a dead letter, so the job goes on. A record JSON cannot hold is
    logged as a dead letter too. With a checkpoint directory the log is durable;
    without one it lives in memory (nothing survives a crash then).
    """

    replayable: ClassVar[bool] = False

    def open(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.log = ReceiverLog(ctx.state_dir())
        self.start_receiving()

    @abstractmethod
    def start_receiving(self) -> None:
        """Start threads that call :meth:`store` with what arrives."""

    def stop_receiving(self) -> None:  # noqa: B027 - optional hook
        """Stop the receiver threads."""

    def store(self, records: list[Any]) -> int:
        """Log records durably; after this returns the sender may be acknowledged."""
        if not records:
            return len(self.log)
        return self.log.append(records)

    def reader(self) -> SourceReader:
        """Workers read the log file; an in-memory log (no checkpoint) is read here."""
        if not hasattr(self, "log"):
            raise RuntimeError(f"{type(self).__name__}: reader() before open(); the log "
                               "is opened with the source")
        if self.log.path is None:
            return DriverReader(self)
        return ReceiverLogReader(os.path.abspath(self.log.path))  # workers have another cwd

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return len(self.log)

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        """Without a checkpoint (``DriverReader``): from the in-memory log."""
        return self.log.read(start, end)

    def close(self) -> None:
        self.stop_receiving()
        if hasattr(self, "log"):
            self.log.close()
