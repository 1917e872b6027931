"""Reference pane-based windows: the executable specification of ``window_c``.

A window is cut into panes (one per slide); each pane keeps per-key partial
aggregates, so a window result is a merge of a few partials rather than of
every record. ``SlidingWindow`` goes further when the reducer can be undone
(sum, count, mean, or a callable with an ``inverse``): it keeps a running
aggregate, adds the new pane and subtracts the expired one ("calculate adds",
"calculate deletes"), as pandas' rolling kernels and Spark's
``reduceByKeyAndWindow(func, invFunc)`` do.

Key order: ``PaneStore.merge_range`` lists keys first-seen over the panes in
ascending order; ``SlidingWindow.result`` lists them in the order they entered
the window (a key that left and came back goes to the end). Both are
deterministic, so replays emit identical batches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from operator import index
from typing import Any

from ._common import (
    CALL,
    COUNT,
    MEAN,
    STATE_VERSION,
    SUM,
    check_field,
    check_inverse,
    check_state,
    check_window,
    is_field,
    reducer_code,
)
from .hashagg_ref import HashAgg, Reducer

__all__ = ["PaneStore", "SlidingWindow", "columns", "event_times_us", "rows"]


def event_times_us(
    times: Iterable[Any], cutoff: int | None, convert: Callable[[Any], int]
) -> tuple[list[int], list[int], int | None]:
    """Event times in integer microseconds, the late ones, and the latest on time.

    ``convert`` is the careful per-record conversion (its errors propagate;
    the compiled kernel computes exact floats and ints itself, with the same
    result). A record is late when its time is below ``cutoff`` (None: nothing
    is late). Returns ``(us, late_indexes, max_on_time_us or None)``.
    """
    us = [convert(t) for t in times]
    late = [] if cutoff is None else [i for i, t in enumerate(us) if t < cutoff]
    if late:
        skip = set(late)
        on_time = [t for i, t in enumerate(us) if i not in skip]
    else:
        on_time = us
    return us, late, max(on_time, default=None)


def _column(records: list[Any], field: Any, default: str) -> list[Any]:
    if isinstance(field, list):
        if len(field) != len(records):
            raise ValueError("columns: a column differs in length from the records")
        return field
    if field is None:
        return list(records) if default == "record" else [None] * len(records)
    return [record[field] for record in records]


def columns(
    records: Iterable[Any], time: Any, key: Any, value: Any, cutoff: int | None,
    convert: Callable[[Any], int],
) -> tuple[list[Any], list[int], list[Any], list[int], int | None]:
    """Records as event-time columns in one pass: ``(keys, times_us, values, late, top)``.

    ``time``, ``key`` and ``value`` are each a field reference (an int index or
    a str key: ``record[ref]``; the compiled kernel reads tuples, lists and
    dicts without a Python call), a list holding the column already computed
    (by a user's callable), or None (key: None for every record; value: the
    record itself). Times convert as in ``event_times_us``; late records (time
    below ``cutoff``) are left out of the columns and listed by index. Errors
    (a missing field, an odd time) propagate: the caller then goes record by
    record.
    """
    records = list(records)
    for field, what in ((time, "time"), (key, "key"), (value, "value")):
        check_field(field, what)
    if time is None:
        raise ValueError("columns: time must be a field reference or a column")
    # the compiled kernel reads record by record: the first error is the first record's
    keys: list[Any] = []
    times: list[int] = []
    vals: list[Any] = []
    late: list[int] = []
    tcol, kcol, vcol = (_column(records, f, d) if isinstance(f, list) else None
                        for f, d in ((time, ""), (key, ""), (value, "record")))
    top = None
    for i, record in enumerate(records):
        raw = tcol[i] if tcol is not None else record[time]
        # every field is read before the lateness check: a record missing one fails even when late
        k = kcol[i] if kcol is not None else None if key is None else record[key]
        v = vcol[i] if vcol is not None else record if value is None else record[value]
        t = convert(raw)
        if cutoff is not None and t < cutoff:
            late.append(i)
            continue
        if top is None or t > top:
            top = t
        times.append(t)
        keys.append(k)
        vals.append(v)
    return keys, times, vals, late, top


def _refs_only(time: Any, key: Any, value: Any, what: str) -> None:
    if not is_field(time) or isinstance(key, list) or isinstance(value, list):
        raise ValueError(f"{what}: time must be a field reference; key and value references "
                         "or None")


def rows(cls: Callable[..., Any], pairs: Iterable[tuple[Any, Any]], start: Any, end: Any
         ) -> list[Any]:
    """``[cls(key, start, end, value) for key, value in pairs]`` (WindowResult rows)."""
    return [cls(key, start, end, value) for key, value in pairs]


class PaneStore:
    """Per-pane, per-key partial aggregates, merged over any range of panes."""

    def __init__(self, reducer: Reducer) -> None:
        reducer_code(reducer)
        self._reducer = reducer
        self._panes: dict[int, HashAgg] = {}

    def __len__(self) -> int:
        return len(self._panes)

    def add(self, pane: int, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Fold raw ``(key, value)`` records into pane ``pane``."""
        pane = index(pane)
        agg = self._panes.get(pane)
        if agg is None:
            agg = self._panes[pane] = HashAgg(self._reducer)
        agg.add_pairs(pairs)

    def merge(self, pane: int, partials: Iterable[tuple[Any, Any]]) -> None:
        """Merge ``(key, partial)`` pairs (a pane of another store's ``to_state()``: a
        map side's combine) into pane ``pane``."""
        pane = index(pane)
        agg = self._panes.get(pane)
        if agg is None:
            agg = self._panes[pane] = HashAgg(self._reducer)
        agg.merge_partials(partials)

    def fold(
        self, keys: Iterable[Any], times_us: Iterable[int], values: Iterable[Any], pane_us: int
    ) -> None:
        """Fold records, given as columns, into pane ``time // pane_us`` each."""
        keys, times_us, values = list(keys), list(times_us), list(values)
        if not len(keys) == len(times_us) == len(values):
            raise ValueError("fold: keys, times_us and values differ in length")
        pane_us = index(pane_us)
        if pane_us <= 0:
            raise ValueError(f"fold: pane_us must be positive, not {pane_us}")
        by_pane: dict[int, list[tuple[Any, Any]]] = {}
        for key, t, value in zip(keys, times_us, values, strict=True):
            by_pane.setdefault(index(t) // pane_us, []).append((key, value))
        for pane, pairs in by_pane.items():
            self.add(pane, pairs)

    def fold_records(self, records: Iterable[Any], time: Any, key: Any, value: Any,
                     cutoff: int | None, pane_us: int, convert: Callable[[Any], int]
                     ) -> tuple[list[int], int | None]:
        """``fold`` of ``columns(records, ...)``'s on-time records: ``(late_indexes, top)``.

        Every record is read and its time converted before anything is folded, so
        a missing field or an odd time raises with no pane changed.
        """
        for field, what in ((time, "time"), (key, "key"), (value, "value")):
            check_field(field, what)
        _refs_only(time, key, value, "fold_records")
        pane_us = index(pane_us)
        if pane_us <= 0:
            raise ValueError(f"fold_records: pane_us must be positive, not {pane_us}")
        keys, times, vals, late, top = columns(records, time, key, value, cutoff, convert)
        self.fold(keys, times, vals, pane_us)
        return late, top

    def merge_range(self, first: int, last: int) -> list[tuple[Any, Any]]:
        """Finalized aggregate over panes ``first..last`` inclusive."""
        first, last = index(first), index(last)
        if first == last:  # one pane (tumbling windows): its results, no merge
            agg = self._panes.get(first)
            return [] if agg is None else agg.results()
        total = HashAgg(self._reducer)
        for pane in sorted(self._panes):
            if first <= pane <= last:
                total.merge_partials(self._panes[pane].partials())
        return total.results()

    def rows(self, first: int, last: int, cls: Callable[..., Any], start: Any, end: Any,
             into: type[list[Any]] = list) -> list[Any]:
        """``into(rows(cls, merge_range(first, last), start, end))``: ``into`` is list or
        a list subclass adding no fields (``Records``), so the rows need no copy later."""
        if not (isinstance(into, type) and issubclass(into, list)
                and into.__basicsize__ == list.__basicsize__):
            raise TypeError(f"rows: into must be list or a list subclass without fields, "
                            f"not {into!r}")
        return into(rows(cls, self.merge_range(first, last), start, end))

    def drop_before(self, pane: int) -> None:
        """Forget every pane older than ``pane`` (they left every window)."""
        pane = index(pane)
        for old in [p for p in self._panes if p < pane]:
            del self._panes[old]

    def panes(self) -> list[int]:
        """Pane numbers held, ascending."""
        return sorted(self._panes)

    def to_state(self) -> tuple[int, list[tuple[int, list[tuple[Any, Any]]]]]:
        """Checkpoint as plain data: ``(version, [(pane, partials), ...])``."""
        return (STATE_VERSION, [(p, self._panes[p].partials()) for p in sorted(self._panes)])

    @classmethod
    def from_state(cls, reducer: Reducer, state: Any) -> PaneStore:
        """Rebuild a store from ``to_state()``."""
        store = cls(reducer)
        for pane, partials in check_state(state, "PaneStore"):
            agg = store._panes[index(pane)] = HashAgg(reducer)
            agg.merge_partials(partials)
        return store


class _Pane:
    """One slide of a SlidingWindow: partials plus records per key."""

    __slots__ = ("agg", "records")

    def __init__(self, agg: HashAgg, records: dict[Any, int]) -> None:
        self.agg = agg
        self.records = records

    def entries(self) -> list[tuple[Any, Any, int]]:
        return [(key, part, self.records[key]) for key, part in self.agg.partials()]


class SlidingWindow:
    """Per-key aggregate over the last ``window_panes`` pushes (processing-time slides)."""

    def __init__(
        self,
        window_panes: int,
        reducer: Reducer,
        inverse: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self._size = check_window(window_panes)
        code = reducer_code(reducer)
        check_inverse(code, inverse)
        self._reducer = reducer
        self._inverse = inverse
        self._incremental = code in (SUM, COUNT, MEAN) or (code == CALL and inverse is not None)
        self._panes: deque[_Pane] = deque()
        # keys in the window, in entry order, with their live record counts
        self._records: dict[Any, int] = {}
        # running aggregate (incremental reducers only), same key order
        self._running = HashAgg(reducer)

    def __len__(self) -> int:
        """Keys currently in the window."""
        return len(self._records)

    @property
    def incremental(self) -> bool:
        """Whether expiry subtracts (True) or results re-merge the live panes."""
        return self._incremental

    def push(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Append one pane of raw ``(key, value)`` records; expire the oldest if full."""
        pairs = list(pairs)
        agg = HashAgg(self._reducer)
        agg.add_pairs(pairs)
        counts: dict[Any, int] = {}
        for key, _value in pairs:
            counts[key] = counts.get(key, 0) + 1
        self._add(_Pane(agg, counts))
        if len(self._panes) > self._size:
            self._expire(self._panes.popleft())

    def _add(self, pane: _Pane) -> None:
        """Calculate adds: the new pane's records and partials join the window."""
        self._panes.append(pane)
        records = self._records
        for key, count in pane.records.items():
            records[key] = records.get(key, 0) + count
        if self._incremental:
            self._running.merge_partials(pane.agg.partials())

    def _expire(self, pane: _Pane) -> None:
        """Calculate deletes: take the oldest pane out, dropping keys left with no records."""
        records = self._records
        for key, part in pane.agg.partials():
            left = records[key] - pane.records[key]
            if left <= 0:
                del records[key]
                if self._incremental:
                    self._running._discard(key)
            else:
                records[key] = left
                if self._incremental:
                    self._running._subtract_one(key, part, self._inverse)

    def result(self) -> list[tuple[Any, Any]]:
        """Finalized aggregate over the live panes, keys in window-entry order."""
        if self._incremental:
            return self._running.results()
        total = HashAgg(self._reducer)
        for pane in self._panes:
            total.merge_partials(pane.agg.partials())
        values = dict(total.results())
        return [(key, values[key]) for key in self._records]

    def to_state(self) -> tuple[int, list[Any]]:
        """Checkpoint as plain data: ``(version, [panes, running])``.

        ``panes`` is one ``[(key, partial, records), ...]`` list per live pane,
        oldest first; ``running`` lists the window's keys in entry order with
        the running partial (None unless incremental) and live record count.
        The running partial is stored, not recomputed, so a restored window
        continues with exactly the same floats.
        """
        running = dict(self._running.partials()) if self._incremental else {}
        entries = [(key, running.get(key), n) for key, n in self._records.items()]
        return (STATE_VERSION, [[pane.entries() for pane in self._panes], entries])

    @classmethod
    def from_state(
        cls,
        window_panes: int,
        reducer: Reducer,
        inverse: Callable[[Any, Any], Any] | None,
        state: Any,
    ) -> SlidingWindow:
        """Rebuild a window from ``to_state()`` (reducer and inverse are code, so not stored)."""
        window = cls(window_panes, reducer, inverse)
        panes, entries = check_state(state, "SlidingWindow")
        for pane_entries in panes:
            agg = HashAgg(reducer)
            agg.merge_partials([(key, part) for key, part, _n in pane_entries])
            window._panes.append(_Pane(agg, {key: n for key, _part, n in pane_entries}))
        for key, part, n in entries:
            window._records[key] = n
            if window._incremental:
                window._running.merge_partials([(key, part)])
        while len(window._panes) > window._size:  # restored into a shorter window
            window._expire(window._panes.popleft())
        return window
