"""Session windows: per-key activity separated by gaps of at least ``gap``.

A session spans ``[first event, last event + gap)``. Events closer than the
gap (inclusive, as Spark and Flink) join one session, and an event that
bridges two sessions merges them. Per key the open sessions are kept sorted,
each as ``[start_us, last_us, count, partial]`` where ``partial`` is the hash
aggregation kernel's mergeable partial, so merging sessions never revisits
their events. A session is final when ``last + gap <= watermark``; it is then
emitted (``emit="final"``) and forgotten, so a later event starts a new one.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from itertools import count
from operator import itemgetter
from typing import Any

from etlcore import _fast
from etlcore.eventtime.base import (
    EventTimeNode,
    SessionResult,
    WindowSpec,
    by_window,
    seconds,
)
from etlcore.graph.base import Node

Session = list[Any]  # [start_us, last_us, count, partial]

_TIME = itemgetter(0)


class _Fold:
    """One reducer's partials through the kernel, for a single key."""

    def __init__(self, agg: Any):
        self.agg = agg
        self.HashAgg = _fast.hashagg.HashAgg

    def partial(self, values: list[Any]) -> Any:
        acc = self.HashAgg(self.agg)
        acc.add_pairs([(0, v) for v in values])
        return acc.partials()[0][1]

    def merge(self, a: Any, b: Any) -> Any:
        acc = self.HashAgg(self.agg)
        acc.merge_partials([(0, a), (0, b)])
        return acc.partials()[0][1]

    def result(self, p: Any) -> Any:
        acc = self.HashAgg(self.agg)
        acc.merge_partials([(0, p)])
        return acc.results()[0][1]


class _CountFold(_Fold):
    """``count`` without a kernel object per session: the partial is the number of values."""

    def partial(self, values: list[Any]) -> Any:
        return len(values)

    def merge(self, a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            return a + b
        return super().merge(a, b)

    def result(self, p: Any) -> Any:
        return p if type(p) is int else super().result(p)


class _SumFold(_Fold):
    """``sum`` as the kernels define it (start at 0, add non-None values in order)."""

    def partial(self, values: list[Any]) -> Any:
        acc = 0
        for v in values:
            if v is not None:
                acc = acc + v
        return acc

    def merge(self, a: Any, b: Any) -> Any:
        acc = 0 if a is None else 0 + a
        return acc if b is None else acc + b

    def result(self, p: Any) -> Any:
        return 0 if p is None else 0 + p


def _fold_for(agg: Any) -> _Fold:
    return {"count": _CountFold, "sum": _SumFold}.get(agg, _Fold)(agg)


class SessionPart:
    """One key partition's open sessions, plus an index of when each key's first one expires.

    ``expiry`` is a heap of ``(first session's last + gap, tiebreak, key)``,
    pushed whenever a key's sessions change; entries go stale instead of being
    updated. Finishing sessions pops the entries the watermark passed, so it
    costs O(finished + stale), not O(open keys). ``order`` numbers keys in the
    table's insertion order, so finished keys are visited in table order as a
    full scan would.
    """

    __slots__ = ("table", "order", "expiry", "tiebreak")

    def __init__(self, table: dict[Any, list[Session]], gap_us: int):
        self.table = table
        self.tiebreak = count()
        self.order = {key: next(self.tiebreak) for key in table}
        self.expiry = [(sessions[0][1] + gap_us, next(self.tiebreak), key)
                       for key, sessions in table.items()]
        heapify(self.expiry)


class SessionWindowNode(EventTimeNode):
    """Sessions per key, kept in :class:`SessionPart` states, one per key partition."""

    op = "session_window"

    def __init__(self, parent: Node, key: str, spec: WindowSpec, num_partitions: int,
                 gap_us: int):
        super().__init__(parent, key, spec, num_partitions)
        self.gap_us = gap_us
        self.fold = _fold_for(spec.agg)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "gap_us": self.gap_us}

    def new_state(self) -> Any:
        return SessionPart({}, self.gap_us)

    def encode_state(self, state: Any) -> Any:
        return [[key, sessions] for key, sessions in state.table.items()]

    def decode_state(self, data: Any) -> Any:
        return SessionPart({key: [list(s) for s in sessions] for key, sessions in data},
                           self.gap_us)

    def state_len(self, state: Any) -> int:
        return sum(len(s) for s in state.table.values())

    def is_late(self, t_us: int, wm_us: int) -> bool:
        return t_us + self.gap_us <= wm_us

    def late_before(self, wm_us: int) -> int:
        return wm_us - self.gap_us + 1  # t + gap <= wm <=> t < wm - gap + 1

    def _clusters(self, events: list[tuple[int, Any]]) -> list[Session]:
        """This batch's events of one key as sessions (events sorted by time, stable)."""
        fold = self.fold
        if len(events) == 1:
            t, v = events[0]
            return [[t, t, 1, fold.partial([v])]]
        events.sort(key=_TIME)
        gap, partial = self.gap_us, fold.partial
        out: list[Session] = []
        start, vals = events[0][0], []
        last = start
        for t, v in events:
            if t > last + gap:
                out.append([start, last, len(vals), partial(vals)])
                start, vals = t, []
            last = t
            vals.append(v)
        out.append([start, last, len(vals), partial(vals)])
        return out

    def _merge(self, sessions: list[Session], new: list[Session]) -> tuple[list[Session], set[int]]:
        """Sorted, non-overlapping sessions and the indexes of those that changed.

        Both inputs are sorted by start; they are merged by start, an open
        session before a new one with the same start.
        """
        if not sessions:
            return new, set(range(len(new)))
        gap, fold = self.gap_us, self.fold
        merged: list[Session] = []
        changed: set[int] = set()
        i = j = 0
        n_old, n_new = len(sessions), len(new)
        while i < n_old or j < n_new:
            if j == n_new or (i < n_old and sessions[i][0] <= new[j][0]):
                s, is_new = sessions[i], False
                i += 1
            else:
                s, is_new = new[j], True
                j += 1
            if merged and s[0] <= merged[-1][1] + gap:
                cur = merged[-1]
                cur[1] = max(cur[1], s[1])
                cur[2] += s[2]
                cur[3] = fold.merge(cur[3], s[3])
                changed.add(len(merged) - 1)
            else:
                merged.append(list(s))
                if is_new:
                    changed.add(len(merged) - 1)
        return merged, changed

    def process(self, state: Any, keys: list[Any], times: list[int], values: list[Any],
                wm_us: int | None, emitted_us: int | None) -> list[Any]:
        table, order, heap = state.table, state.order, state.expiry
        gap, tiebreak = self.gap_us, state.tiebreak
        events: dict[Any, list[tuple[int, Any]]] = {}
        get = events.get
        for key, ev in zip(keys, zip(times, values, strict=True), strict=True):
            evs = get(key)
            if evs is None:
                events[key] = [ev]
            else:
                evs.append(ev)
        out: list[SessionResult] = []
        update = self.spec.emit == "update"
        for key, evs in events.items():
            merged, changed = self._merge(table.get(key, []), self._clusters(evs))
            if key not in table:
                order[key] = next(tiebreak)
            table[key] = merged
            heappush(heap, (merged[0][1] + gap, next(tiebreak), key))
            if update:
                out.extend(self._result(key, merged[i]) for i in sorted(changed))
        if wm_us is not None:
            due = set()
            while heap and heap[0][0] <= wm_us:
                due.add(heappop(heap)[2])
            for key in sorted((k for k in due if k in table), key=order.__getitem__):
                sessions = table[key]
                final = [s for s in sessions if s[1] + gap <= wm_us]
                if not final:  # a stale entry: the key's sessions were extended
                    continue
                if not update:
                    out.extend(self._result(key, s) for s in final)
                rest = [s for s in sessions if s[1] + gap > wm_us]
                if rest:
                    table[key] = rest
                    heappush(heap, (rest[0][1] + gap, next(tiebreak), key))
                else:
                    del table[key]
                    del order[key]
        return by_window(out)

    def _result(self, key: Any, s: Session) -> SessionResult:
        return SessionResult(key, seconds(s[0]), seconds(s[1] + self.gap_us),
                             self.fold.result(s[3]), s[2])
