"""The source protocol: positions in, records out.

A batch is planned before it runs: for every partition of every source the
driver records the exact position range ``[start, end)`` the batch covers.
Reading that range again gives the same records, which is what makes a
replayed batch identical to the first run (Spark's direct approach, bytewax's
``build_part(resume_state)``).

Positions are opaque to the engine but must be JSON-serialisable (ints,
strings, lists), because they are written to the batch-plan log.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from etlcore.clock import Clock

Position = Any  # JSON-serialisable: int, str, list, dict, None


@dataclass(frozen=True)
class Rejected:
    """Yield this from ``Source.read`` for input that cannot be decoded.

    The engine sends it to the dead-letter sink with the reason (stage: the
    source's name) and the batch goes on without it.
    """

    record: Any
    reason: str


@dataclass
class SourceContext:
    """What the engine hands a source when it opens it."""

    name: str
    clock: Clock
    checkpoint_dir: Path | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    def state_dir(self) -> Path | None:
        """A per-source directory inside the checkpoint (for receiver logs)."""
        if self.checkpoint_dir is None:
            return None
        path = self.checkpoint_dir / "sources" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path


class Source(ABC):
    """A partitioned source read in planned position ranges.

    Subclasses say whether they are ``replayable``: a replayable source can
    read any planned range again after a crash (files, generators, Kafka). A
    source that is not (a socket) must log what it receives before it counts as
    received; :class:`etlcore.receiver.ReceiverSource` does that for it.
    """

    replayable: ClassVar[bool] = True

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
        previous batch committed (``on_batch_committed`` has seen its positions).
        """

    @abstractmethod
    def read(self, partition: str, start: Position, end: Position) -> Iterable[Any]:
        """The records in ``[start, end)``, the same every time it is asked."""

    def exhausted(self) -> bool:
        """True when a finite source will never produce more (for ``until_idle``)."""
        return False

    def estimate(self, partition: str, start: Position, end: Position) -> int | None:
        """Records in the range, if the source can tell without reading (for rate control)."""
        if isinstance(start, int) and isinstance(end, int):
            return end - start
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
        end = self.available(partition)
        if max_records is not None:
            end = min(end, start + max_records)
        return max(start, end)
