"""The sink protocol: write per partition, commit with the batch id.

Every sink must make a replayed batch converge to the same stored result,
because after a crash the engine runs the last planned batch again. Pick one of
three strategies (documented in README, "Writing a sink"):

1. **Deterministic keys + upsert** (:class:`Sink` with an upsert store): the
   same batch writes the same keys, so writing twice changes nothing.
2. **Atomic rename** (:class:`StagedFileSink`): write to a temp name, rename
   to a name derived from (batch id, partition) on commit; a replay overwrites
   the same names.
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
    """What the engine hands a sink when it opens it."""

    name: str  # unique within the job, e.g. "sqlite" or "files-2"
    job_name: str
    checkpoint_dir: Path | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)  # set on a hard stop


class Sink(ABC):
    """Receives each batch partition by partition, then a commit.

    ``write`` may be called several times for the same batch after a crash;
    ``commit`` must make the batch visible exactly once.
    """

    def open(self, ctx: SinkContext) -> None:  # noqa: B027 - optional hook
        """Connect; called once before the first batch."""

    @abstractmethod
    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        """Stage one partition of a batch."""

    def commit(self, batch: BatchInfo) -> None:  # noqa: B027 - optional hook
        """Make the whole batch visible; idempotent for a replayed batch."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and disconnect."""


class TransactionalSink(Sink):
    """Strategy 3: skip batches the target already holds, by a stored batch id.

    Subclasses implement ``last_committed_batch`` (read from the target) and
    ``write_batch``, which must store the records *and* the batch id in one
    transaction. Records of all partitions are gathered and written at commit.
    """

    def __init__(self) -> None:
        self._pending: dict[int, list[Any]] = {}

    @abstractmethod
    def last_committed_batch(self) -> int | None:
        """The batch id stored with the data, or None when the target is empty."""

    @abstractmethod
    def write_batch(self, batch: BatchInfo, records: list[Any]) -> None:
        """Store records and ``batch.batch_id`` atomically."""

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        self._pending.setdefault(partition, []).extend(records)

    def commit(self, batch: BatchInfo) -> None:
        pending, self._pending = self._pending, {}
        last = self.last_committed_batch()
        if last is not None and batch.batch_id <= last:
            return
        records = [r for p in sorted(pending) for r in pending[p]]
        self.write_batch(batch, records)


class StagedFileSink(Sink):
    """Strategy 2: one file per (batch, partition), staged then renamed.

    Subclasses give ``final_path`` and ``write_file``; a temp file is written,
    fsynced and renamed at commit, so readers never see a partial file and a
    replay overwrites the same names.
    """

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}  # final -> temp; a retried write replaces

    @abstractmethod
    def final_path(self, batch: BatchInfo, partition: int) -> Path:
        """Where the partition's file lives once committed (derived from ids only)."""

    @abstractmethod
    def write_file(self, path: Path, records: list[Any]) -> None:
        """Write records to ``path`` (a temp file)."""

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        final = self.final_path(batch, partition)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        self.write_file(tmp, records)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._staged[final] = tmp

    def commit(self, batch: BatchInfo) -> None:
        staged, self._staged = self._staged, {}
        dirs = set()
        for final, tmp in staged.items():
            os.replace(tmp, final)
            dirs.add(final.parent)
        for d in dirs:
            fd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
