"""The sink protocol: partition writers on workers, one commit on the driver.

A sink is split at the pickling boundary, as Spark's Python Data Source API
splits ``DataSourceStreamWriter.write`` (executor, returns a commit message)
from ``commit(messages, batch_id)`` / ``abort`` (driver):

- :class:`SinkWriter` (from ``Sink.writer()``) is picklable, built from the
  sink's config. Each worker unpickles it once, calls ``open``, then
  ``write(batch, partition, records)`` for every partition task it runs; each
  call returns a small picklable *commit message* (a staged file name, a row
  count, the records themselves for a sink that stores on the driver).
- :class:`Sink` lives on the driver: ``open``, ``commit(batch, messages)``,
  ``abort(batch, messages)`` and ``close`` run on the job's thread. ``commit``
  gets the messages of every partition, in partition order.

Every sink must make a replayed batch converge to the same stored result,
because after a crash the engine runs the last planned batch again (writes
and commit both). Pick one of three strategies:

1. **Deterministic keys + upsert**: the same batch writes the same keys, so
   writing it twice changes nothing.
2. **Atomic rename** (:class:`StagedFileSink`): workers write temp files, the
   driver renames them to names derived from (batch id, partition) at commit;
   a replay overwrites the same names.
3. **Stored last-committed batch id** (:class:`TransactionalSink`): the sink
   keeps the id of the last batch it committed in the target store, updated in
   the same transaction as the data, and skips batches at or below it.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etlcore.batch import BatchInfo


@dataclass
class SinkContext:
    """What the engine hands a sink (driver side) when it opens it."""

    name: str  # unique within the job, e.g. "sqlite" or "files-2"
    job_name: str
    checkpoint_dir: Path | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)  # set on a hard stop


@dataclass
class WriterContext:
    """What a worker hands a writer when it opens it (plain data: it crosses processes)."""

    name: str
    job_name: str
    checkpoint_dir: str | None = None
    worker: str = "driver"


@dataclass
class WriteResult:
    """A commit message plus the records the writer could not store.

    Return it from :meth:`SinkWriter.write` when some records cannot be encoded
    for the target (an integer too wide for SQLite, NaN for strict JSON): the
    engine dead-letters each ``(record, reason)`` before any sink commits the
    batch, so every sink of the batch still commits and the job goes on.
    """

    message: Any
    rejected: list[tuple[Any, str]] = field(default_factory=list)


class SinkWriter(ABC):
    """The worker half of a sink: stages one partition, returns a commit message."""

    def open(self, ctx: WriterContext) -> None:  # noqa: B027 - optional hook
        """Connect (once per worker; reused across batches)."""

    @abstractmethod
    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        """Stage one partition of a batch; may run again for the same batch after a crash."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect; called when the worker stops."""


class Sink(ABC):
    """The driver half: hands out a writer, commits each batch once."""

    def open(self, ctx: SinkContext) -> None:  # noqa: B027 - optional hook
        """Connect; called once on the driver before the first batch."""

    @abstractmethod
    def writer(self) -> SinkWriter:
        """A picklable writer for workers, built from this sink's config."""

    @abstractmethod
    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        """Make the whole batch visible; idempotent for a replayed batch."""

    def abort(self, batch: BatchInfo, messages: list[Any]) -> None:  # noqa: B027
        """The batch failed after some partitions were written: drop what they staged."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect."""


class CollectWriter(SinkWriter):
    """Returns the records themselves as the commit message."""

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        return records


class CollectingSink(Sink):
    """A sink that stores on the driver: workers send records, ``store`` gets them all.

    For stores that want one writer (SQLite, an in-memory result, a console) or
    one transaction per batch; the records of all partitions arrive in partition order.
    """

    def writer(self) -> SinkWriter:
        return CollectWriter()

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        records = messages[0] if len(messages) == 1 else [r for m in messages for r in m]
        self.store(batch, records)

    @abstractmethod
    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        """Store the whole batch (called once per batch, again on a replay)."""


class TransactionalSink(CollectingSink):
    """Strategy 3: skip batches the target already holds, by a stored batch id.

    Subclasses implement ``last_committed_batch`` (read from the target) and
    ``write_batch``, which must store the records *and* the batch id in one
    transaction.
    """

    @abstractmethod
    def last_committed_batch(self) -> int | None:
        """The batch id stored with the data, or None when the target is empty."""

    @abstractmethod
    def write_batch(self, batch: BatchInfo, records: list[Any]) -> None:
        """Store records and ``batch.batch_id`` atomically."""

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        last = self.last_committed_batch()
        if last is not None and batch.batch_id <= last:
            return
        self.write_batch(batch, records)


def fsync_path(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagedFileWriter(SinkWriter):
    """Writes a partition to a temp file beside its final name; the message is the pair."""

    def __init__(self, layout: StagedFileSink):
        self.layout = layout

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        if not records and self.layout.skip_empty:
            return None
        final = self.layout.final_path(batch, partition)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        self.layout.write_file(tmp, records)
        fsync_path(tmp)
        return (str(final), str(tmp))


class StagedFileSink(Sink):
    """Strategy 2: one file per (batch, partition), staged by workers, renamed at commit.

    Subclasses give ``final_path`` and ``write_file`` and must be picklable (config
    only): the writer carries the sink to workers. Workers and driver must see the
    same file system. Readers never see a partial file and a replay overwrites the
    same names.
    """

    skip_empty = True  # partitions without records write no file

    def writer(self) -> SinkWriter:
        return StagedFileWriter(self)

    @abstractmethod
    def final_path(self, batch: BatchInfo, partition: int) -> Path:
        """Where the partition's file lives once committed (derived from ids only)."""

    @abstractmethod
    def write_file(self, path: Path, records: list[Any]) -> None:
        """Write records to ``path`` (a temp file)."""

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        dirs = set()
        for message in messages:
            if message is None:
                continue
            final, tmp = message
            if os.path.exists(tmp):
                os.replace(tmp, final)
            elif not os.path.exists(final):  # a replay whose temp vanished: nothing to publish
                continue
            dirs.add(os.path.dirname(final))
        for d in dirs:
            fsync_path(d)
        self.committed(batch, sorted(dirs))

    def committed(self, batch: BatchInfo, dirs: list[str]) -> None:  # noqa: B027
        """After the batch's files are in place (e.g. write a _SUCCESS marker)."""

    def abort(self, batch: BatchInfo, messages: list[Any]) -> None:
        for message in messages:
            if message is not None and os.path.exists(message[1]):
                os.unlink(message[1])
