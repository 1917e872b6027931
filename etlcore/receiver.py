"""Make a push-based receiver replayable with a write-ahead log.

A socket, a Flume Avro client or a Twitter stream cannot be asked for "the
records between positions 10 and 20" again after a crash. A receiver stores
what it gets with :meth:`ReceiverSource.store`, which appends to a log in the
checkpoint directory and fsyncs *before* returning; only then may the receiver
acknowledge to its sender. Batches are then planned over log offsets exactly
like a replayable source (Spark's receiver write-ahead log).
"""

from __future__ import annotations

import json
import os
import threading
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from etlcore.source import OffsetSource, SourceContext


class ReceiverLog:
    """An append-only JSON-lines log with an offset index (in memory without a directory)."""

    def __init__(self, folder: Path | None):
        self._lock = threading.Lock()
        self._records: list[Any] | None = None
        self._starts: list[int] = []
        self._file = None
        if folder is None:
            self._records = []
            return
        self.path = folder / "received.jsonl"
        self._recover()
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for appends

    def _recover(self) -> None:
        """Index complete lines; cut a torn last line left by a crash mid-write."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
        pos = 0
        while pos < end:
            self._starts.append(pos)
            pos = data.index(b"\n", pos) + 1
        self._size = end

    def append(self, records: list[Any]) -> int:
        """Durably add records; returns the log's new length."""
        with self._lock:
            if self._records is not None:
                self._records.extend(records)
                return len(self._records)
            assert self._file is not None
            pos = self._file.tell()
            chunk = bytearray()
            for r in records:
                self._starts.append(pos + len(chunk))
                chunk += json.dumps(r, ensure_ascii=False).encode() + b"\n"
            self._file.write(chunk)
            self._file.flush()
            os.fsync(self._file.fileno())
            return len(self._starts)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records) if self._records is not None else len(self._starts)

    def read(self, start: int, end: int) -> list[Any]:
        with self._lock:
            if self._records is not None:
                return self._records[start:end]
            begin = self._starts[start]
            stop = self._starts[end] if end < len(self._starts) else None
        with open(self.path, "rb") as f:
            f.seek(begin)
            data = f.read() if stop is None else f.read(stop - begin)
        return [json.loads(line) for line in data.splitlines()[: end - start]]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ReceiverSource(OffsetSource):
    """Base for push sources: subclasses start receiving in ``start_receiving``.

    Records must be JSON-serialisable. With a checkpoint directory the log is
    durable; without one it lives in memory (nothing survives a crash then).
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

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return len(self.log)

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        return self.log.read(start, end)

    def close(self) -> None:
        self.stop_receiving()
        if hasattr(self, "log"):
            self.log.close()
