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
  ``abort(batch, messages)`` and ``close`` run on the job's thread, except that a
  job that commits behind (:mod:`etlcore.scheduler`, "Committing behind") runs
  ``commit`` on the checkpoint's commit thread while the next batch's writers run:
  one batch at a time, in batch order, never beside another ``commit`` or
  ``abort``. ``commit`` gets the messages of every partition, in partition order.

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
   the same transaction as the data, and skips batches at or below it. Store
   it with ``ctx.epoch`` (:mod:`etlcore.plugin.epoch`): batch ids restart at 0
   with a new checkpoint.

Building blocks for writers that store directly from the worker:
:class:`BufferingWriter` (chunks of N records or bytes, retried),
:class:`UpsertWriter` with :class:`UpsertSink` (strategy 1), and
:class:`DirectSink` (nothing to publish at commit).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, ClassVar

from etlcore.batch import BatchInfo
from etlcore.lineblock import LineBlock
from etlcore.plugin.epoch import checkpoint_epoch, sink_state_dir
from etlcore.plugin.fs import FileSystem, LocalFileSystem
from etlcore.plugin.retry import RetryOn, retry


@dataclass
class SinkContext:
    """What the engine hands a sink (driver side) when it opens it."""

    name: str  # unique within the job, e.g. "sqlite" or "files-2"
    job_name: str
    checkpoint_dir: Path | str | None = None  # str: the URL of a checkpoint on shared storage
    stop_event: threading.Event = field(default_factory=threading.Event)  # set on a hard stop

    @property
    def epoch(self) -> str | None:
        """The checkpoint's random id (None without a checkpoint): store it with batch ids.

        Read it once in ``open`` (it is a file read) and pass it to the writer
        if workers need it.
        """
        return checkpoint_epoch(self.checkpoint_dir)

    def state_dir(self) -> Path | None:
        """``<checkpoint>/sinks/<name>/``, created; None without a checkpoint."""
        return sink_state_dir(self.checkpoint_dir, self.name)


@dataclass
class WriterContext:
    """What a worker hands a writer when it opens it (plain data: it crosses processes)."""

    name: str
    job_name: str
    checkpoint_dir: str | None = None
    worker: str = "driver"

    @property
    def epoch(self) -> str | None:
        """As :attr:`SinkContext.epoch`; the worker must see the checkpoint directory."""
        return checkpoint_epoch(self.checkpoint_dir)

    def state_dir(self) -> Path | None:
        """As :meth:`SinkContext.state_dir`, on a worker that sees the checkpoint."""
        return sink_state_dir(self.checkpoint_dir, self.name)


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

    def open_part(self, batch: BatchInfo, partition: int) -> PartWriter | None:
        """A writer that takes the partition in chunks, as the task reads and maps them.

        None (the default): this writer takes a whole partition in one ``write``.
        A writer that returns one lets a task overlap storing a partition's first
        records with reading the rest (a file upload beside the parsing), as Spark's
        tasks pipe an iterator into their writer; the result of ``close`` is what
        ``write`` would have returned.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect; called when the worker stops."""


class PartWriter(ABC):
    """One partition being stored chunk by chunk (see :meth:`SinkWriter.open_part`)."""

    @abstractmethod
    def write(self, records: list[Any]) -> None:
        """Take the next records of the partition, in order."""

    def write_text(self, block: LineBlock) -> None:
        """Take the next lines of the partition as UTF-8 bytes (a block of ``str`` lines,
        ``block.text``; :mod:`etlcore.lineblock`): a writer that stores lines as they are
        overrides this to skip the decoding."""
        self.write(block.lines())

    @abstractmethod
    def close(self) -> Any:
        """Finish the partition: its commit message (or a :class:`WriteResult`)."""

    @abstractmethod
    def abort(self) -> None:
        """Drop what was staged: the task failed before ``close``."""


class Sink(ABC):
    """The driver half: hands out a writer, commits each batch once."""

    #: The batch's plan must be durable before this sink's writers run. True (the safe
    #: default) for a sink whose writers leave something readable that a replay of a
    #: *differently planned* batch might not overwrite: rows upserted from tasks, parts
    #: under final names. False lets the driver log the plan while the tasks run and
    #: wait for it only before the commit: a driver killed in between restarts with no
    #: plan for the batch and plans it anew (other ranges, perhaps another batch time),
    #: so whatever the lost attempt's writers did must stay invisible or be replaced.
    #: See docs/plugins.md, "Exactly-once: three strategies, one pitfall".
    plan_before_write: bool = True

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

    plan_before_write = False  # writers only hand records back

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


def staging_path(final: Path | str) -> Path | str:
    """The temp name beside ``final`` (hidden, so directory readers skip it)."""
    if isinstance(final, PurePath):
        return final.with_name(f".{final.name}.tmp")
    head, _, name = final.rpartition("/")
    return f"{head}/.{name}.tmp" if head else f".{name}.tmp"


class StagedFileWriter(SinkWriter):
    """Writes a partition to a temp file beside its final name; the message is the pair."""

    def __init__(self, layout: StagedFileSink):
        self.layout = layout

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        if not records and self.layout.skip_empty:
            return None
        fs = self.layout.fs
        final = self.layout.final_path(batch, partition)
        if not fs.creates_parents:
            fs.mkdirs(os.path.dirname(final))
        tmp = self.layout.staging_path(final)
        self.layout.write_file(tmp, records)  # type: ignore[arg-type]  # a str off local disks
        fs.sync(tmp)
        return (str(final), str(tmp))


class StagedFileSink(Sink):
    """Strategy 2: one file per (batch, partition), staged by workers, renamed at commit.

    Subclasses give ``final_path`` and ``write_file`` and must be picklable (config
    only): the writer carries the sink to workers. Workers and driver must see the
    same file system. Readers never see a partial file and a replay overwrites the
    same names.

    Storage goes through ``fs`` (:mod:`etlcore.plugin.fs`): the local file
    system by default; a sink for an object store sets another and then
    returns ``str`` URLs from ``final_path`` and writes with ``self.fs.open``.
    """

    skip_empty = True  # partitions without records write no file
    plan_before_write = False  # writers stage hidden temp files only
    fs: FileSystem = LocalFileSystem()

    def writer(self) -> SinkWriter:
        return StagedFileWriter(self)

    @abstractmethod
    def final_path(self, batch: BatchInfo, partition: int) -> Path:
        """Where the partition's file lives once committed (derived from ids only)."""

    @abstractmethod
    def write_file(self, path: Path, records: list[Any]) -> None:
        """Write records to ``path`` (a temp file)."""

    def staging_path(self, final: Path | str) -> Path | str:
        """The temp name a worker writes before the commit renames it to ``final``.

        Hidden, beside ``final``. A store where a killed writer's request may still
        land after its replacement started (a remote server) gives each attempt its
        own name instead, so a late write never clobbers the one being committed.
        """
        return staging_path(final)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        fs = self.fs
        dirs = set()
        for message in messages:
            if message is None:
                continue
            final, tmp = message
            if not fs.rename_present(tmp, final) and not fs.exists(final):
                continue  # a replay whose temp vanished: nothing to publish
            dirs.add(os.path.dirname(final))
        for d in dirs:
            fs.sync(d)
        self.committed(batch, sorted(dirs))

    def committed(self, batch: BatchInfo, dirs: list[str]) -> None:  # noqa: B027
        """After the batch's files are in place (e.g. write a _SUCCESS marker)."""

    def abort(self, batch: BatchInfo, messages: list[Any]) -> None:
        for message in messages:
            if message is not None:
                self.fs.remove(message[1])


# -- writers that store directly from the worker -------------------------------------


class RejectRecord(Exception):  # noqa: N818 - an instruction, like StopIteration
    """Raise from :meth:`BufferingWriter.prepare` for a record the target cannot take.

    The record goes to the dead letters with ``reason`` and the batch goes on.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BufferingWriter(SinkWriter):
    """Stores a partition in chunks of at most ``chunk_records`` records / ``chunk_bytes`` bytes.

    For targets with a bulk API (Cassandra batches, Elasticsearch ``_bulk``,
    an HTTP endpoint): one round trip per chunk. Subclasses give :meth:`send`
    (store one chunk) and usually :meth:`prepare` (encode one record, or
    raise :class:`RejectRecord`). Every chunk is sent before ``write``
    returns, so a commit message never stands for records still in a buffer.
    A ``send`` that raises one of ``retry_on`` is retried with backoff and
    jitter (:func:`etlcore.plugin.retry.retry`); the chunk must therefore be
    safe to send twice (idempotent, or at-least-once is acceptable).

    Set the class attributes in ``__init__`` from the connector's config.
    """

    chunk_records: int = 500
    chunk_bytes: int | None = None
    retry_on: RetryOn = ()
    attempts: int = 5
    retry_base: float = 0.1  # seconds before the first retry (jittered)
    retry_cap: float = 10.0  # longest wait between retries

    def prepare(self, record: Any) -> Any:
        """What :meth:`send` gets for ``record``; raise RejectRecord to dead-letter it."""
        return record

    def combine(self, items: list[Any]) -> list[Any]:
        """The prepared items of a partition, before chunking (e.g. last value per key)."""
        return items

    def size(self, item: Any) -> int:
        """Bytes ``item`` adds to a chunk (only with ``chunk_bytes``): override for encodings."""
        return len(item) if isinstance(item, (bytes, bytearray, str)) else len(repr(item))

    @abstractmethod
    def send(self, batch: BatchInfo, partition: int, chunk: list[Any]) -> None:
        """Store one chunk of prepared items."""

    def message(self, batch: BatchInfo, partition: int, sent: int) -> Any:
        """The commit message of a partition; by default how many items were sent."""
        return sent

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        items: list[Any] = []
        rejected: list[tuple[Any, str]] = []
        for record in records:
            try:
                items.append(self.prepare(record))
            except RejectRecord as err:
                rejected.append((record, err.reason))
        items = self.combine(items)
        for chunk in self.chunks(items):
            self._send(batch, partition, chunk)
        message = self.message(batch, partition, len(items))
        return WriteResult(message, rejected) if rejected else message

    def chunks(self, items: list[Any]) -> list[list[Any]]:
        """``items`` cut at ``chunk_records`` items or ``chunk_bytes`` bytes, in order."""
        out: list[list[Any]] = []
        chunk: list[Any] = []
        nbytes = 0
        limit = max(1, self.chunk_records)
        for item in items:
            n = self.size(item) if self.chunk_bytes is not None else 0
            if chunk and (len(chunk) >= limit or
                          (self.chunk_bytes is not None and nbytes + n > self.chunk_bytes)):
                out.append(chunk)
                chunk, nbytes = [], 0
            chunk.append(item)
            nbytes += n
        if chunk:
            out.append(chunk)
        return out

    def _send(self, batch: BatchInfo, partition: int, chunk: list[Any]) -> None:
        if self.retry_on == ():
            self.send(batch, partition, chunk)
            return
        retry(lambda: self.send(batch, partition, chunk), self.attempts, self.retry_base,
              self.retry_cap, self.retry_on, what=f"{type(self).__name__}.send")


class UpsertWriter(BufferingWriter):
    """Strategy 1: each record is written under a key derived from the record alone.

    For stores with a native upsert (Cassandra, MongoDB ``replace_one(upsert=True)``,
    HBase puts, SQL ``ON CONFLICT``). Subclasses give :meth:`connect` (on the
    worker, at ``open``), :meth:`key` and :meth:`upsert`. A replayed batch
    writes the same keys with the same values, so it converges; the key must
    therefore never involve a clock, a random id or a counter. Within a
    partition the last record per key wins (in record order); records of one
    key in *different* partitions of a batch race, so partition by the key
    first (``reduce_by_key``, ``key_by``) when keys can repeat.

    Rows are visible as soon as ``upsert`` returns, before the batch commits.
    """

    def open(self, ctx: WriterContext) -> None:
        self.connect()

    def close(self) -> None:
        self.disconnect()

    @abstractmethod
    def connect(self) -> None:
        """Open the client (on the worker; the writer was pickled without it)."""

    def disconnect(self) -> None:  # noqa: B027 - optional hook
        """Close the client."""

    @abstractmethod
    def key(self, record: Any) -> Hashable:
        """The record's key; raise RejectRecord for a record without one."""

    @abstractmethod
    def upsert(self, rows: list[tuple[Hashable, Any]]) -> None:
        """Insert or replace each ``(key, record)``; keys are distinct within a call."""

    def prepare(self, record: Any) -> tuple[Hashable, Any]:
        return self.key(record), record

    def combine(self, items: list[Any]) -> list[Any]:
        latest: dict[Hashable, Any] = {}
        for key, record in items:
            latest.pop(key, None)  # re-insert: the order is that of the last occurrences
            latest[key] = record
        return list(latest.items())

    def send(self, batch: BatchInfo, partition: int, chunk: list[Any]) -> None:
        self.upsert(chunk)


class DirectSink(Sink):
    """The driver half of sinks whose writers store directly: nothing to publish at commit.

    Exactly-once only when the writes are idempotent (:class:`UpsertSink`);
    otherwise a replayed batch is stored again (at-least-once).
    """

    visible_before_commit: ClassVar[bool] = True

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        """Every partition is stored by the time the driver commits."""


class UpsertSink(DirectSink):
    """Strategy 1 on the driver: :meth:`writer` returns an :class:`UpsertWriter`.

    A failed batch is not undone (``abort`` can do nothing): its replay rewrites
    the same keys.
    """
