"""What identifies a batch, and what a batch covers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Partitions = list[list[Any]]  # a batch's records, one list per partition (Spark's RDD)


@dataclass(frozen=True)
class BatchInfo:
    """Identity of one micro-batch, handed to sinks and foreach_batch functions."""

    batch_id: int
    batch_time: float  # the scheduled time of the batch (seconds since the epoch)
    replay: bool = False  # True when the batch is a recovery replay of a planned batch


@dataclass
class BatchPlan:
    """The exact input of one batch: per source, per partition, ``[start, end)``.

    It is logged before the batch runs, so a crash mid-batch replays exactly
    this input.
    """

    batch_id: int
    batch_time: float
    ranges: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def records_hint(self, estimates: dict[str, int | None] | None = None) -> int:
        total = 0
        for parts in self.ranges.values():
            for start, end in parts.values():
                if isinstance(start, int) and isinstance(end, int):
                    total += end - start
        return total

    def is_empty(self) -> bool:
        return all(start == end for parts in self.ranges.values() for start, end in parts.values())

    def end_positions(self) -> dict[str, dict[str, Any]]:
        return {src: {p: rng[1] for p, rng in parts.items()} for src, parts in self.ranges.items()}

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "batch_time": self.batch_time, "ranges": self.ranges}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchPlan:
        return cls(int(data["batch_id"]), float(data["batch_time"]), data["ranges"])
