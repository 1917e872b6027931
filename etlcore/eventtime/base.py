"""What every event-time window shares: time extraction, watermark, lateness.

Times are kept as integer microseconds so pane and window boundaries never
depend on float rounding (``0.3 / 0.1`` is 2.999...). The watermark follows
Spark: the largest event time seen in all *previous* batches minus
``max_delay``, computed at the end of a batch and applied from the next, so a
batch's records are never late relative to each other and a replayed batch
sees the same watermark as its first run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from etlcore.batch import Partitions
from etlcore.errors import CheckpointError
from etlcore.graph.base import BatchRun, Node
from etlcore.graph.shuffle import Reducer, shuffle

US = 1_000_000  # microseconds per second

Item = tuple[Any, int, Any]  # (key, event time in microseconds, value)


class WindowResult(NamedTuple):
    """One tumbling or sliding window's aggregate for one key."""

    key: Any
    window_start: float
    window_end: float
    value: Any


class SessionResult(NamedTuple):
    """One session: ``window_end`` is the last event's time plus the gap."""

    key: Any
    window_start: float
    window_end: float
    value: Any
    count: int


def to_us(t: Any) -> int:
    """Event time (epoch seconds, int or float, or a datetime) as integer microseconds."""
    if isinstance(t, datetime):
        t = t.timestamp()
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise TypeError(f"event time must be a number of seconds or a datetime, not {t!r}")
    if isinstance(t, float) and not math.isfinite(t):
        raise ValueError(f"event time must be finite, not {t!r}")
    return round(t * US)


def seconds(us: int) -> float:
    return us / US


@dataclass(frozen=True)
class WindowSpec:
    """How records become ``(key, time, value)``, and what to do with results and late ones."""

    extract: Callable[[Any], Any]
    delay_us: int
    key: Callable[[Any], Any] | None
    value: Callable[[Any], Any] | None
    agg: Reducer
    emit: str  # "final" | "update"
    late: str  # "dead_letter" | "drop"


class EventTimeNode(Node):
    """Base of the event-time window operators; subclasses hold per-partition windows.

    Subclasses implement ``is_late``, ``process`` (one partition's items at
    this batch's watermark -> output records) and the ``_parts_state`` pair.
    """

    stateful = True

    def __init__(self, parent: Node, key: str, spec: WindowSpec, num_partitions: int):
        super().__init__([parent], key)
        self.spec = spec
        self.num_partitions = num_partitions
        self.max_event_us: int | None = None  # over all batches so far
        self.emitted_us: int | None = None  # watermark up to which final windows were emitted

    @property
    def watermark_us(self) -> int | None:
        """The watermark for the *next* batch (None until an event was seen)."""
        if self.max_event_us is None:
            return None
        return self.max_event_us - self.spec.delay_us

    @property
    def watermark(self) -> float | None:
        wm = self.watermark_us
        return None if wm is None else seconds(wm)

    def is_late(self, t_us: int, wm_us: int) -> bool:
        raise NotImplementedError

    def process(self, part: int, items: list[Item], wm_us: int | None) -> list[Any]:
        raise NotImplementedError

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0]) or []
        spec = self.spec
        wm = self.watermark_us
        key_of, value_of, extract = spec.key, spec.value, spec.extract
        pairs: list[tuple[Any, tuple[int, Any]]] = []
        batch_max = None
        for part in parts:
            for record in part:
                try:
                    t = to_us(extract(record))
                    k = key_of(record) if key_of is not None else None
                    v = value_of(record) if value_of is not None else record
                except Exception as err:  # noqa: BLE001 - user code; the record is dead-lettered
                    run.dead_letter(record, f"{type(err).__name__}: {err}", self.key)
                    continue
                if wm is not None and self.is_late(t, wm):
                    run.late_records += 1
                    if spec.late == "dead_letter":
                        run.dead_letter(record, "late", self.key)
                    continue
                if batch_max is None or t > batch_max:
                    batch_max = t
                pairs.append((k, (t, v)))
        n = self.num_partitions
        routed = shuffle([pairs], n) if pairs else [[] for _ in range(n)]
        items = [[(k, tv[0], tv[1]) for k, tv in part] for part in routed]
        out = run.runner.map(lambda i: self.process(i, items[i], wm), range(n))
        if wm is not None:
            self.emitted_us = wm
        if batch_max is not None and (self.max_event_us is None or batch_max > self.max_event_us):
            self.max_event_us = batch_max
        return out

    # -- state ------------------------------------------------------------------------
    def _parts_state(self) -> list[Any]:
        raise NotImplementedError

    def _restore_parts(self, parts: list[Any]) -> None:
        raise NotImplementedError

    def snapshot(self) -> Any:
        return {"max_event_us": self.max_event_us, "emitted_us": self.emitted_us,
                "parts": self._parts_state()}

    def restore(self, state: Any) -> None:
        try:
            parts = state["parts"]
            max_event, emitted = state["max_event_us"], state["emitted_us"]
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{self.key}: unreadable event-time state ({err})") from None
        if len(parts) != self.num_partitions:
            raise CheckpointError(
                f"{self.key}: the checkpoint holds {len(parts)} partitions, the job has "
                f"{self.num_partitions}; keep num_partitions or use a new checkpoint directory"
            )
        self.max_event_us, self.emitted_us = max_event, emitted
        self._restore_parts(parts)


def by_window(records: list[Any]) -> list[Any]:
    """Stable order by window, so output does not depend on dict or hash order."""
    return sorted(records, key=lambda r: (r.window_start, r.window_end))
