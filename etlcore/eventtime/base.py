"""What every event-time window shares: time extraction, watermark, lateness.

Times are kept as integer microseconds so pane and window boundaries never
depend on float rounding (``0.3 / 0.1`` is 2.999...). The watermark follows
Spark: the largest event time seen in all *previous* batches minus
``max_delay``, computed at the end of a batch and applied from the next, so a
batch's records are never late relative to each other and a replayed batch
sees the same watermark as its first run.

Each batch is handled in columns: per input partition the event times, keys
and values are read, the times converted and checked for lateness in one
kernel call (``_fast.window.columns``). Field references (``time=0``,
``key="user"``) are read by the kernel itself, with no Python call per record;
callables are mapped over the partition first. The careful
record-by-record path runs only for a partition where user code or an odd
event time raised, so dead letters keep their order and reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from etlcore import _fast
from etlcore._fast._common import is_field
from etlcore.errors import CheckpointError
from etlcore.graph.base import Node, TaskContext, WideNode
from etlcore.graph.identity import describe
from etlcore.graph.shuffle import Reducer

US = 1_000_000  # microseconds per second

# one partition's records as columns: keys, event times in microseconds, values
Columns = tuple[list[Any], list[int], list[Any]]


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


def getter(field: Any) -> Callable[[Any], Any] | None:
    """A callable for a field reference (``record[field]``); callables and None pass through."""
    return itemgetter(field) if is_field(field) else field


def seconds(us: int) -> float:
    return us / US


@dataclass(frozen=True)
class WindowSpec:
    """How records become ``(key, time, value)``, and what to do with results and late ones.

    ``extract``, ``key`` and ``value`` are callables or field references (an
    int index or a str key, read as ``record[field]`` by the kernel itself).
    """

    extract: Callable[[Any], Any] | int | str
    delay_us: int
    key: Callable[[Any], Any] | int | str | None
    value: Callable[[Any], Any] | int | str | None
    agg: Reducer
    emit: str  # "final" | "update"
    late: str  # "dead_letter" | "drop"


class EventTimeNode(WideNode):
    """Base of the event-time window operators; state is kept per key partition.

    The watermark is node-global and lives on the driver: ``param`` hands each
    batch's tasks the watermark and the lateness cutoff, the map side reports
    the latest event time it saw as a counter, and ``after_batch`` folds those
    in. Subclasses implement ``late_before``, ``process`` (one partition's items
    at this batch's watermark -> output records) and the partition state hooks.
    """

    stateful = True
    propagate_none = False

    def __init__(self, parent: Node, key: str, spec: WindowSpec, num_partitions: int):
        super().__init__([parent], key)
        self.spec = spec
        self.num_partitions = num_partitions
        self.max_event_us: int | None = None  # over all batches so far
        self.emitted_us: int | None = None  # watermark up to which final windows were emitted

    def identity(self) -> dict[str, Any]:
        spec = self.spec
        return {"extract": describe(spec.extract), "key": describe(spec.key),
                "value": describe(spec.value), "delay_us": spec.delay_us,
                "agg": describe(spec.agg), "emit": spec.emit, "late": spec.late,
                "partitions": self.num_partitions}

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
        return t_us < self.late_before(wm_us)

    def late_before(self, wm_us: int) -> int:
        """Records with an event time below this are late at watermark ``wm_us``."""
        raise NotImplementedError

    def process(self, state: Any, keys: list[Any], times: list[int], values: list[Any],
                wm_us: int | None, emitted_us: int | None) -> list[Any]:
        """One partition's records (columns, arrival order) at this batch's watermark."""
        raise NotImplementedError

    # -- driver ----------------------------------------------------------------------
    def param(self, scope: Any, upstream_tasks: int) -> Any:
        wm = self.watermark_us
        return {"wm": wm, "cutoff": None if wm is None else self.late_before(wm),
                "emitted": self.emitted_us}

    def after_batch(self, counters: list[dict[str, Any]], param: Any) -> None:
        if param["wm"] is not None:
            self.emitted_us = param["wm"]
        name = f"max_event:{self.key}"
        for c in counters:
            top = c.get(name)
            if top is not None and (self.max_event_us is None or top > self.max_event_us):
                self.max_event_us = top

    def driver_state(self) -> Any:
        return {"max_event_us": self.max_event_us, "emitted_us": self.emitted_us}

    def restore_driver_state(self, data: Any) -> None:
        try:
            self.max_event_us, self.emitted_us = data["max_event_us"], data["emitted_us"]
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{self.key}: unreadable event-time state ({err})") from None

    # -- worker ----------------------------------------------------------------------
    def direct(self) -> bool:
        """Whether one partition's records can be folded as they are (``fold_direct``)."""
        return False

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        if not records:
            return [([], [], [])] * n
        if n == 1 and self.direct():
            # one key partition: the records go on as they are, and the reduce task reads
            # each record once, in C (lateness, the latest event time, dead letters there)
            return [(_RECORDS, records, param["cutoff"])]
        cols, top = self._columns(ctx, records, param["cutoff"])
        if top is not None:
            ctx.max_counter(f"max_event:{self.key}", top)
        return self._route(*cols, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        blocks = inputs[0] or []
        if len(blocks) == 1 and isinstance(blocks[0][0], str):  # (_RECORDS, records, cutoff)
            _tag, records, cutoff = blocks[0]
            return self._fold_records(state, records, cutoff, param, ctx), state
        if len(blocks) == 1:
            keys, times, values = blocks[0]
        else:
            keys, times, values = [], [], []
            for block in blocks:
                if isinstance(block[0], str):  # raw records (several source partitions)
                    (k, t, v), top = self._columns(ctx, block[1], block[2])
                    if top is not None:
                        ctx.max_counter(f"max_event:{self.key}", top)
                else:
                    k, t, v = block
                keys += k
                times += t
                values += v
        return self.process(state, keys, times, values, param["wm"], param["emitted"]), state

    def fold_direct(self, state: Any, records: list[Any], cutoff: int | None, param: Any
                    ) -> tuple[list[Any], Any, Any]:
        """Fold raw records by the kernel: ``(rows, late_indexes, max_on_time_us)``.

        Raises, with nothing applied, on a record missing a field or with an odd time.
        """
        raise NotImplementedError

    def _fold_records(self, state: Any, records: list[Any], cutoff: int | None, param: Any,
                      ctx: TaskContext) -> list[Any]:
        """Rows due after folding raw records; a record that fails goes the careful way."""
        try:
            rows, late, top = self.fold_direct(state, records, cutoff, param)
        except Exception:  # noqa: BLE001 - a missing field or an odd time; nothing was applied
            (keys, times, values), top = self._columns_careful(ctx, records, cutoff)
            rows = self.process(state, keys, times, values, param["wm"], param["emitted"])
            late = ()
        self._account(ctx, records, late, top)
        return rows

    def _account(self, ctx: TaskContext, records: list[Any], late: Any, top: Any) -> None:
        """Count a kernel's late records (dead-lettered if the spec says so) and its
        greatest event time, which the watermark follows."""
        if late:
            ctx.late_records += len(late)
            if self.spec.late == "dead_letter":
                for i in late:
                    ctx.dead_letter(records[i], "late", self.key)
        if top is not None:
            ctx.max_counter(f"max_event:{self.key}", top)

    def _columns(self, ctx: TaskContext, part: list[Any], cutoff: int | None
                 ) -> tuple[Columns, int | None]:
        """One input partition's on-time records as columns, and their latest event time.

        Field references are handed to the kernel, which reads them itself;
        a callable's column is computed first with ``map`` (a C loop over the
        user's function).
        """
        spec = self.spec
        try:
            fields = [f if f is None or is_field(f) else list(map(f, part))
                      for f in (spec.extract, spec.key, spec.value)]
            keys, times, values, late, top = _fast.window.columns(part, *fields, cutoff, to_us)
        except Exception:  # noqa: BLE001 - user code, a missing field or an odd time
            return self._columns_careful(ctx, part, cutoff)
        if late:
            ctx.late_records += len(late)
            if spec.late == "dead_letter":
                for i in late:
                    ctx.dead_letter(part[i], "late", self.key)
        return (keys, times, values), top

    def _columns_careful(self, ctx: TaskContext, part: list[Any], cutoff: int | None
                         ) -> tuple[Columns, int | None]:
        """``_columns`` one record at a time, dead-lettering the records that raise."""
        spec = self.spec
        key_of, value_of, extract = (getter(f) for f in (spec.key, spec.value, spec.extract))
        keys: list[Any] = []
        times: list[int] = []
        values: list[Any] = []
        top = None
        for record in part:
            try:
                t = to_us(extract(record))
                k = key_of(record) if key_of is not None else None
                v = value_of(record) if value_of is not None else record
            except Exception as err:  # noqa: BLE001 - user code; the record is dead-lettered
                ctx.dead_letter(record, f"{type(err).__name__}: {err}", self.key)
                continue
            if cutoff is not None and t < cutoff:
                ctx.late_records += 1
                if spec.late == "dead_letter":
                    ctx.dead_letter(record, "late", self.key)
                continue
            if top is None or t > top:
                top = t
            keys.append(k)
            times.append(t)
            values.append(v)
        return (keys, times, values), top

    @staticmethod
    def _route(keys: list[Any], times: list[int], values: list[Any], n: int) -> list[Columns]:
        """Columns split into ``n`` partitions by key (arrival order kept)."""
        if n == 1:
            return [(keys, times, values)]
        routed: list[Columns] = []
        # route row numbers by their key, then gather each column: no tuple per record
        for rows in _fast.partition.partition_records(list(range(len(keys))), n, keys.__getitem__):
            routed.append((list(map(keys.__getitem__, rows)), list(map(times.__getitem__, rows)),
                           list(map(values.__getitem__, rows))))
        return routed


_RECORDS = "records"  # tags a map-side block of raw records (a columns block starts with a list)

_WINDOW = itemgetter(1, 2)  # (window_start, window_end) of a WindowResult or SessionResult


def by_window(records: list[Any]) -> list[Any]:
    """Stable order by window, so output does not depend on dict or hash order."""
    return sorted(records, key=_WINDOW)
