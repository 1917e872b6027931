"""The source protocol: a driver-side planner and a worker-side reader.

A source is split at the pickling boundary, as Spark's Python Data Source API
splits ``DataSourceStreamReader.partitions`` (driver) from ``read`` (executor):

- :class:`Source` lives on the driver: ``open``, ``partitions``,
  ``initial_position``, ``plan``, ``on_batch_committed`` and ``close`` run
  there, on the thread that runs the job (``ctx.run()`` or ``ctx.start()``'s
  background thread; never two at once).
- :class:`SourceReader` is what ``Source.reader()`` returns: a small picklable
  object built from the source's config, with no live client in it. Each
  worker (the driver itself under the ``local`` runner, a worker process under
  ``processes``, a Python worker of an executor under ``spark``) unpickles it,
  calls ``open`` once and then ``read(partition, start, end)`` for every task
  it gets, batch after batch, until ``close``.

A batch is planned before it runs: for every partition of every source the
driver records the exact position range ``[start, end)`` the batch covers.
Reading that range again gives the same records, which is what makes a
replayed batch identical to the first run (Spark's direct approach, bytewax's
``build_part(resume_state)``).

Positions are opaque to the engine but must be JSON-serialisable (ints,
strings, lists), because they are written to the batch-plan log.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from etlcore.clock import Clock
from etlcore.lineblock import LineBlock

Position = Any  # JSON-serialisable: int, str, list, dict, None


@dataclass(frozen=True)
class Rejected:
    """Yield this from ``Source.read`` for input that cannot be decoded.

    The engine sends it to the dead-letter sink with the reason (stage: the
    source's name) and the batch goes on without it. ``origin`` says where the
    input was (``"in/a.csv line 3 (byte 40)"``, ``"partition 0, offset 17"``), so
    it can be found and fixed at its source.
    """

    record: Any
    reason: str
    origin: str | None = None


@dataclass
class SourceContext:
    """What the engine hands a source when it opens it."""

    name: str
    clock: Clock
    checkpoint_dir: Path | str | None = None  # str: the URL of a checkpoint on shared storage
    stop_event: threading.Event = field(default_factory=threading.Event)
    # Where the job's first read of each partition starts, as the checkpoint says (the
    # replayed plan's start, else the committed position); a partition not named starts
    # at initial_position(). Told at open so that a source may start fetching before
    # the first plan.
    resume: dict[str, Position] = field(default_factory=dict)
    # True when the readers that reader() returns run in this process (the local runner):
    # a source may then start their connections at open. False when the runner pickles
    # them to workers, where work started here would be wasted.
    readers_here: bool = False

    def state_dir(self) -> Path | None:
        """A per-source directory inside the checkpoint (for receiver logs).

        A checkpoint on shared storage (a URL) has none: use :meth:`state_store`.
        """
        if self.checkpoint_dir is None:
            return None
        from etlcore.plugin.epoch import local_only

        local_only(self.checkpoint_dir, f"source '{self.name}'")
        path = Path(self.checkpoint_dir) / "sources" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path


    def state_location(self) -> Path | str | None:
        """Where the source's files go: :meth:`state_dir`, or its URL on shared storage.

        Write there with :func:`etlcore.ckptstore.open_store` (whole files, atomically).
        """
        from etlcore.ckptstore import is_remote

        if self.checkpoint_dir is not None and is_remote(self.checkpoint_dir):
            return f"{os.fspath(self.checkpoint_dir)}/sources/{self.name}"
        return self.state_dir()


@dataclass
class ReaderContext:
    """What a worker hands a reader when it opens it (plain data: it crosses processes)."""

    name: str  # the source's key in the job
    job_name: str
    checkpoint_dir: str | None = None
    worker: str = "driver"  # "driver", "process-<pid>", "spark-<host>-<pid>"
    # Set on a hard stop while this worker runs a task: a read that waits (for a server,
    # for records) should check it and raise soon. Made on the worker, never pickled.
    stop_event: threading.Event = field(default_factory=threading.Event, compare=False)


class SourceReader(ABC):
    """The worker half of a source: reads a planned range, the same every time.

    Picklable: hold config, open clients in :meth:`open` (called once per worker,
    on the worker thread that runs tasks, before the first ``read``).
    """

    def open(self, ctx: ReaderContext) -> None:  # noqa: B027 - optional hook
        """Connect (once per worker; the reader is then reused across batches)."""

    @abstractmethod
    def read(self, partition: str, start: Position, end: Position) -> Iterable[Any]:
        """The records in ``[start, end)``, the same every time it is asked."""

    def read_blocks(self, partition: str, start: Position,
                    end: Position) -> Iterable[LineBlock | list[Any]] | None:
        """The records of ``read`` as blocks of lines kept in the buffer they were read
        into and lists of records, in order; None (the default): records only.

        A :class:`~etlcore.lineblock.LineBlock`'s ``lines()`` must be exactly the records
        ``read`` gives for them (``bytes`` lines, or ``str`` lines with ``text`` set); a
        list holds the records between blocks (lines that needed decoding, their
        :class:`Rejected`). The engine asks when a stage passes the source's records
        unchanged into sinks (``str`` blocks go to ``PartWriter.write_text`` as bytes) and
        when the source's one reader in the task parses lines out of a buffer
        (``parse_json``, alone or fused with the steps after it), so no object is made per
        line (:mod:`etlcore.lineblock`).
        """
        return None

    def prune_fields(self, fields: frozenset[str]) -> None:  # noqa: B027 - optional hook
        """The job reads only these fields of the records that are dicts: a hint, given
        once before the reader is shipped or opened (:mod:`etlcore.graph.projection`).

        A reader that decodes JSON may then return an object that has every one of
        ``fields`` as a dict of just those (their values unchanged); every other record
        must come as it would without the hint (:class:`etlcore.jsonproject.ProjectedJson`
        does both). Keep the hint through pickling. Default: ignored.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect; called when the worker stops."""


class DriverReader(SourceReader):
    """Reads on the driver through the source itself; the engine ships the records.

    For in-memory sources (a queue of test batches) that have nothing a worker
    could open. Never pickled: the engine sees this type and reads before the task.
    """

    def __init__(self, source: Source):
        self.source = source

    def read(self, partition: str, start: Position, end: Position) -> Iterable[Any]:
        return self.source.read(partition, start, end)

    def __reduce__(self) -> Any:  # pragma: no cover - a programming error in the engine
        raise TypeError("DriverReader is read on the driver and never pickled")


class Source(ABC):
    """A partitioned source read in planned position ranges (the driver half).

    Subclasses say whether they are ``replayable``: a replayable source can
    read any planned range again after a crash (files, generators, Kafka). A
    source that is not (a socket) must log what it receives before it counts as
    received; :class:`etlcore.receiver.ReceiverSource` does that for it.

    ``coalesces``: a step source (one fixed chunk a batch, whatever ``max_records``
    says, as ``QueueSource``) declares True to let a job with a backlog take several
    steps in one batch (:mod:`etlcore.catchup`). The contract: within one batch the
    driver may call ``plan`` again from the end it returned (and drop a step it then
    finds too large, so ``plan`` changes nothing a later ``plan`` from the same start
    would see differently); reading ``[a, c)`` gives exactly the records of ``[a, b)``
    followed by those of ``[b, c)``; and ``estimate`` answers (records, not steps) for
    every planned range. The cap on such a batch is in records (a last batch may take a
    tail of a tenth more to end the backlog), and the rate bound wins over it; the first
    step is always taken. Sources that already take everything available up to the
    rate bound (``OffsetSource``'s plan) gain nothing from it.
    """

    replayable: ClassVar[bool] = True
    # False when the input of a committed batch may be gone (the directory source
    # lets users delete processed files): the engine then snapshots keyed state at
    # every commit, so recovery never has to read committed input again.
    input_retained: ClassVar[bool] = True
    # False when ``read`` never yields :class:`Rejected` (generated or in-memory
    # records): the engine then does not look through every batch for them.
    rejects: ClassVar[bool] = True
    # True when ``read`` (the source's and its reader's) returns a new list every call,
    # which the batch may keep and change: the engine then takes it without a copy.
    fresh_lists: ClassVar[bool] = False
    # True: a backlog may be planned several steps to a batch (see the class doc);
    # an instance may set it from its config (QueueSource's one_at_a_time).
    coalesces: bool = False
    # True when ``plan`` may run for batch n+1 before batch n committed (from n's planned
    # ends; ``on_batch_committed`` of n comes after): the engine may then send batch
    # n+1's tasks while n commits (scheduler module doc, "Running ahead"). A source
    # whose plan depends on what ``on_batch_committed`` did (acks, committed offsets,
    # files deleted) keeps False.
    plans_ahead: ClassVar[bool] = False

    def identity(self) -> dict[str, Any]:
        """What makes this stream this stream (the checkpoint fingerprint covers it).

        A checkpoint written for one directory, topic or seed must not resume
        another. Default: the ``config`` dataclass the plugin was built from,
        without secrets (a rotated password is the same stream) and without
        settings marked ``option(..., identity=False)`` (timeouts, batch bounds);
        override to add what the config does not show.
        """
        config = getattr(self, "config", None)
        if config is None or not dataclasses.is_dataclass(config):
            return {"type": f"{type(self).__module__}.{type(self).__qualname__}"}
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                if not f.metadata.get("secret") and f.metadata.get("identity", True)}

    def open(self, ctx: SourceContext) -> None:  # noqa: B027 - optional hook
        """Connect, start receiver threads. Called once before the first plan."""

    @abstractmethod
    def partitions(self) -> list[str]:
        """The current partition names; may grow between batches (new Kafka partitions)."""

    @abstractmethod
    def initial_position(self, partition: str) -> Position:
        """Where a new partition starts when the checkpoint knows nothing of it."""

    @abstractmethod
    def plan(self, partition: str, start: Position, max_records: int | None) -> Position:
        """The end (exclusive) of the next batch's range, at most ``max_records`` past start.

        Return ``start`` when nothing new is available. Called on the driver only,
        once per partition per batch, in ``partitions()`` order, after the
        previous batch committed (``on_batch_committed`` has seen its positions),
        unless the source sets ``plans_ahead``; for a source that ``coalesces``,
        again from the returned end while a job that is behind takes more steps into
        the batch (see the class doc).
        """

    @abstractmethod
    def reader(self) -> SourceReader:
        """A picklable reader for workers, built from this source's config."""

    def read(self, partition: str, start: Position, end: Position) -> Iterable[Any]:
        """Read on the driver (used by :class:`DriverReader` sources only)."""
        raise NotImplementedError(f"{type(self).__name__} reads through its reader()")

    def exhausted(self) -> bool:
        """True when a finite source will never produce more (for ``until_idle``)."""
        return False

    def estimate(self, partition: str, start: Position, end: Position) -> int | None:
        """Records in the range, if the source can tell without reading (for rate control)."""
        if isinstance(start, int) and isinstance(end, int):
            return end - start
        return None

    def lag(self, partition: str, end: Position) -> int | None:
        """Records the partition holds beyond ``end`` as of the last ``plan`` (None: unknown).

        Shown in the web UI and exported as ``etlcore_source_lag_records``; a
        source that learns its partitions' ends while planning (Kafka's high
        watermark) answers without another request.
        """
        return None

    def on_batch_committed(self, positions: dict[str, Position]) -> None:  # noqa: B027
        """Positions up to which every sink committed (e.g. to commit Kafka group offsets)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and stop threads."""


class OffsetSource(Source):
    """A source whose partitions are append-only sequences indexed 0, 1, 2, ...

    Subclasses give ``available(partition)`` (how many records exist now) and
    ``read``; planning is then a matter of arithmetic.
    """

    @abstractmethod
    def available(self, partition: str) -> int:
        """How many records the partition holds now (its next offset)."""

    def initial_position(self, partition: str) -> int:
        return 0

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        end = available = self.available(partition)
        self._remember_end(partition, available)
        if max_records is not None:
            end = min(end, start + max_records)
        return max(start, end)

    def _remember_end(self, partition: str, available: int) -> None:
        ends = self.__dict__.setdefault("_planned_ends", {})
        ends[partition] = available

    def lag(self, partition: str, end: Position) -> int | None:
        available = self.__dict__.get("_planned_ends", {}).get(partition)
        if available is None or not isinstance(end, int):
            return None
        return max(0, available - end)
