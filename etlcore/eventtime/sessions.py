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

from typing import Any

from etlcore import _fast
from etlcore.eventtime.base import (
    EventTimeNode,
    Item,
    SessionResult,
    WindowSpec,
    by_window,
    seconds,
)
from etlcore.graph.base import Node

Session = list[Any]  # [start_us, last_us, count, partial]


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


class SessionWindowNode(EventTimeNode):
    op = "session_window"

    def __init__(self, parent: Node, key: str, spec: WindowSpec, num_partitions: int,
                 gap_us: int):
        super().__init__(parent, key, spec, num_partitions)
        self.gap_us = gap_us
        self.fold = _Fold(spec.agg)
        self.tables: list[dict[Any, list[Session]]] = [{} for _ in range(num_partitions)]

    def is_late(self, t_us: int, wm_us: int) -> bool:
        return t_us + self.gap_us <= wm_us

    def _clusters(self, events: list[tuple[int, Any]]) -> list[Session]:
        """This batch's events of one key as sessions (events sorted by time, stable)."""
        events.sort(key=lambda e: e[0])
        out: list[Session] = []
        values: list[list[Any]] = []
        for t, v in events:
            if out and t <= out[-1][1] + self.gap_us:
                out[-1][1] = t
                out[-1][2] += 1
                values[-1].append(v)
            else:
                out.append([t, t, 1, None])
                values.append([v])
        for session, vs in zip(out, values, strict=True):
            session[3] = self.fold.partial(vs)
        return out

    def _merge(self, sessions: list[Session], new: list[Session]) -> tuple[list[Session], set[int]]:
        """Sorted, non-overlapping sessions and the indexes of those that changed."""
        gap = self.gap_us
        tagged = sorted([(s, False) for s in sessions] + [(s, True) for s in new],
                        key=lambda e: (e[0][0], e[1]))
        merged: list[Session] = []
        changed: set[int] = set()
        for s, is_new in tagged:
            if merged and s[0] <= merged[-1][1] + gap:
                cur = merged[-1]
                cur[1] = max(cur[1], s[1])
                cur[2] += s[2]
                cur[3] = self.fold.merge(cur[3], s[3])
                changed.add(len(merged) - 1)
            else:
                merged.append(list(s))
                if is_new:
                    changed.add(len(merged) - 1)
        return merged, changed

    def process(self, part: int, items: list[Item], wm_us: int | None) -> list[Any]:
        table = self.tables[part]
        events: dict[Any, list[tuple[int, Any]]] = {}
        for key, t, value in items:
            events.setdefault(key, []).append((t, value))
        out: list[SessionResult] = []
        update = self.spec.emit == "update"
        for key, evs in events.items():
            merged, changed = self._merge(table.get(key, []), self._clusters(evs))
            table[key] = merged
            if update:
                out.extend(self._result(key, merged[i]) for i in sorted(changed))
        if wm_us is not None:
            for key in list(table):
                sessions = table[key]
                final = [s for s in sessions if s[1] + self.gap_us <= wm_us]
                if not final:
                    continue
                if not update:
                    out.extend(self._result(key, s) for s in final)
                rest = [s for s in sessions if s[1] + self.gap_us > wm_us]
                if rest:
                    table[key] = rest
                else:
                    del table[key]
        return by_window(out)

    def _result(self, key: Any, s: Session) -> SessionResult:
        return SessionResult(key, seconds(s[0]), seconds(s[1] + self.gap_us),
                             self.fold.result(s[3]), s[2])

    def _parts_state(self) -> list[Any]:
        return [[[key, sessions] for key, sessions in table.items()] for table in self.tables]

    def _restore_parts(self, parts: list[Any]) -> None:
        self.tables = [{key: [list(s) for s in sessions] for key, sessions in rows}
                       for rows in parts]

    def state_size(self) -> int:
        return sum(len(s) for table in self.tables for s in table.values())
