"""Reference session windows: the executable specification of ``session_c``.

A key's open sessions are kept sorted by start, each ``[start, last, count,
id, changed]`` (integer microseconds), and separated by more than ``gap``.
Events are applied one at a time in arrival order: an event within ``gap``
(inclusive) of a session joins it, an event within ``gap`` of two sessions
bridges and merges them (the earlier absorbs the later), any other starts a
new session. Each session's aggregate lives in a hash aggregation keyed by
the session's id, so a merge folds one partial into another and never
revisits events.

``process`` applies one batch, then returns the rows ``(key, start, last,
value, count)`` due: with ``update`` every session the batch changed, and
otherwise every session that the watermark finished (``last + gap <= wm``);
finished sessions are forgotten either way. Rows come sorted by ``(start,
last)``, ties in the order the keys were first seen (``update``: seen in this
batch), so replays emit identical batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import index, itemgetter
from typing import Any

from ._common import MEAN, STATE_VERSION, check_field, check_state, reducer_code
from .hashagg_ref import HashAgg, Reducer

__all__ = ["SessionStore", "check_time", "seconds"]

#: times and the gap stay below this, so ``last + gap`` cannot leave int64 in the C twin
LIMIT = 2**62
US = 1_000_000  # microseconds per second

_ORDER = itemgetter(0, 1)  # (start, last) of a row


def seconds(us: int) -> float:
    return us / US


def check_time(t: Any, what: str = "event time") -> int:
    """An event time (or gap) in microseconds, as an int of bounded size."""
    t = index(t)
    if not -LIMIT < t < LIMIT:
        raise OverflowError(f"{what} {t} is out of range (|t| < 2**62 microseconds)")
    return t


class SessionStore:
    """Open sessions per key for one key partition, and the rows a batch makes due."""

    def __init__(self, gap_us: int, reducer: Reducer) -> None:
        self._gap = check_time(gap_us, "gap")
        if self._gap <= 0:
            raise ValueError(f"gap must be positive, not {gap_us}")
        self._code = reducer_code(reducer)
        self._reducer = reducer
        self._agg = HashAgg(reducer)  # session id -> partial
        self._sessions: dict[Any, list[list[Any]]] = {}  # key -> sessions sorted by start
        # key -> (the order it was first seen in, the key object first seen: rows show it)
        self._seq: dict[Any, tuple[int, Any]] = {}
        self._next_seq = 0
        self._next_id = 0

    def __len__(self) -> int:
        """Open sessions over all keys."""
        return sum(len(s) for s in self._sessions.values())

    # -- one session's aggregate -------------------------------------------------------
    def _partial(self, sid: int) -> Any:
        part = self._agg._acc[sid]
        return (part[0], part[1]) if self._code == MEAN else part

    def _value(self, sid: int) -> Any:
        part = self._agg._acc[sid]
        if self._code == MEAN:
            return part[0] / part[1] if part[1] else None
        return part

    def _new(self, start: int, last: int, count: int) -> list[Any]:
        sid = self._next_id
        self._next_id += 1
        return [start, last, count, sid, True]

    def _key(self, key: Any) -> list[list[Any]]:
        sessions = self._sessions.get(key)
        if sessions is None:
            sessions = self._sessions[key] = []
            self._seq[key] = (self._next_seq, key)
            self._next_seq += 1
        return sessions

    def _add(self, sessions: list[list[Any]], t: int, value: Any) -> None:
        """One event into a key's sessions: join, bridge (merge) or start one."""
        gap = self._gap
        i = len(sessions) - 1
        while i >= 0 and sessions[i][0] > t:
            i -= 1
        joins_prev = i >= 0 and t <= sessions[i][1] + gap
        joins_next = i + 1 < len(sessions) and sessions[i + 1][0] <= t + gap
        if joins_prev:
            s = sessions[i]
            s[1] = max(s[1], t)
        elif joins_next:
            s = sessions[i + 1]
            s[0] = t
        else:
            s = self._new(t, t, 0)
            sessions.insert(i + 1, s)
        s[2] += 1
        s[4] = True
        self._agg.add_pairs([(s[3], value)])
        if joins_prev and joins_next:  # the event bridges two sessions
            nxt = sessions.pop(i + 1)
            s[1] = max(s[1], nxt[1])
            s[2] += nxt[2]
            self._agg.merge_partials([(s[3], self._partial(nxt[3]))])
            self._agg._discard(nxt[3])

    def _row(self, key: Any, s: list[Any], result: Any) -> tuple[Any, ...]:
        if result is None:
            return (key, s[0], s[1], self._value(s[3]), s[2])
        return tuple.__new__(result, (key, seconds(s[0]), seconds(s[1] + self._gap),
                                      self._value(s[3]), s[2]))

    def process(self, keys: Iterable[Any], times_us: Iterable[Any], values: Iterable[Any],
                wm_us: int | None, update: bool, result: Any = None) -> list[tuple[Any, ...]]:
        """Apply a batch's events (columns, arrival order); the rows due, finished ones dropped.

        Rows are ``(key, start_us, last_us, value, count)``, or with ``result``
        (a 5-field tuple subclass such as SessionResult) ``result(key, start_s,
        (last + gap)_s, value, count)``.
        """
        keys, times_us, values = list(keys), list(times_us), list(values)
        if not len(keys) == len(times_us) == len(values):
            raise ValueError("process: keys, times_us and values differ in length")
        times_us = [check_time(t) for t in times_us]  # all checked before any is applied
        for key in keys:
            hash(key)  # an unhashable key fails here, before anything changed
        touched: dict[Any, None] = {}
        for key, t, value in zip(keys, times_us, values, strict=True):
            self._add(self._key(key), t, value)
            touched[key] = None
        out = []
        if update:
            for key in touched:
                first = self._seq[key][1]  # 1.0 after 1: the row shows 1, as a final row does
                for s in self._sessions[key]:
                    if s[4]:
                        out.append((s[0], s[1], self._row(first, s, result)))
                        s[4] = False
        if wm_us is not None:
            wm, gap = check_time(wm_us, "watermark"), self._gap
            due = sorted((k for k, ss in self._sessions.items() if ss[0][1] + gap <= wm),
                         key=self._seq.__getitem__)
            for key in due:
                sessions = self._sessions[key]
                m = 0
                while m < len(sessions) and sessions[m][1] + gap <= wm:
                    m += 1
                for s in sessions[:m]:
                    if not update:
                        out.append((s[0], s[1], self._row(key, s, result)))
                    self._agg._discard(s[3])
                if m < len(sessions):
                    del sessions[:m]
                else:
                    del self._sessions[key], self._seq[key]
        out.sort(key=_ORDER)  # stable: ties keep the order emitted
        return [row for _start, _last, row in out]

    def process_records(self, records: Iterable[Any], time: Any, key: Any, value: Any,
                        cutoff: int | None, wm_us: int | None, update: bool, result: Any,
                        convert: Callable[[Any], int]
                        ) -> tuple[list[tuple[Any, ...]], list[int], int | None]:
        """``process`` of the records' own fields: ``(rows, late_indexes, max_on_time_us)``.

        ``time`` is a field reference (``record[time]``), ``key`` and ``value``
        references or None (key None; value the record itself). Times convert
        with ``convert``; records with a time below ``cutoff`` are late: listed,
        not folded. Any error (a missing field, an odd time, an unhashable key)
        is raised before an event is applied, so the caller can go record by
        record.
        """
        for field, what in ((time, "time"), (key, "key"), (value, "value")):
            if isinstance(field, list):
                raise ValueError("process_records: time must be a field reference; key and "
                                 "value references or None")
            check_field(field, what)
        if time is None:
            raise ValueError("process_records: time must be a field reference")
        keys: list[Any] = []
        times: list[int] = []
        vals: list[Any] = []
        late: list[int] = []
        top = None
        for i, record in enumerate(records):
            raw = record[time]
            # every field is read before the lateness check: a record missing one fails
            k = None if key is None else record[key]
            v = record if value is None else record[value]
            t = convert(raw)
            if cutoff is not None and t < cutoff:
                late.append(i)
                continue
            t = check_time(t)
            hash(k)
            if top is None or t > top:
                top = t
            keys.append(k)
            times.append(t)
            vals.append(v)
        return self.process(keys, times, vals, wm_us, update, result), late, top

    # -- checkpoints -------------------------------------------------------------------
    def to_state(self) -> tuple[int, list[Any]]:
        """``(version, [(key, [(start, last, count, partial), ...]), ...])``, keys in seen order."""
        order = sorted(self._sessions, key=self._seq.__getitem__)
        return (STATE_VERSION, [
            (key, [(s[0], s[1], s[2], self._partial(s[3])) for s in self._sessions[key]])
            for key in order])

    @classmethod
    def from_state(cls, gap_us: int, reducer: Reducer, state: Any) -> SessionStore:
        """Rebuild a store from ``to_state()`` (changed marks are not kept)."""
        store = cls(gap_us, reducer)
        for key, sessions in check_state(state, "SessionStore"):
            rows = store._key(key)
            for start, last, count, partial in sessions:
                s = store._new(check_time(start), check_time(last), index(count))
                s[4] = False
                rows.append(s)
                store._agg.merge_partials([(s[3], partial)])
            if not rows:
                del store._sessions[key], store._seq[key]
        return store
