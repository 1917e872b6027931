# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled processing-time sliding windows: ``window_ref.SlidingWindow``, in C.

Each pushed pane is a ``hashagg_c.HashAgg`` whose slots also count the records
they folded; the running aggregate adds the new pane and, when the reducer can
be undone, subtracts the expired one slot to slot (``merge_from``/
``agg_expire``), without materialising Python partials. Re-exported as
``etlcore._fast.window_c.SlidingWindow`` (the event-time panes' module).
"""

from collections import deque

from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

from etlcore._fast.hashagg_c cimport T_DEAD, HashAgg, Val

from etlcore._fast._common import (
    CALL,
    COUNT,
    MEAN,
    STATE_VERSION,
    SUM,
    check_inverse,
    check_state,
    check_window,
    reducer_code,
)

__all__ = ["SlidingWindow"]

cdef int R_CALL = CALL
cdef int R_MEAN = MEAN


# -- what a sliding window does to HashAggs besides merging panes in (merge_from) --

cdef int agg_expire(HashAgg self, HashAgg other, object inverse, bint with_values) except -1:
    """Take ``other``'s records (and values if asked) back out; drop keys left with none."""
    cdef Py_ssize_t t, s
    cdef Val v
    cdef object held
    for t in range(other.size):
        if other.accs[t].tag == T_DEAD:
            continue
        s = self.find(other.key_at(t))
        if s < 0:
            raise RuntimeError("sliding window state is inconsistent: expired key not found")
        self.accs[s].r -= other.accs[t].r
        if self.accs[s].r <= 0:
            self.discard(s)
            continue
        if not with_values:
            continue
        held = other.obj_at(t)
        if self.code == R_CALL:
            self.put_obj(s, inverse(self.obj_at(s), held))
            continue
        v.tag = other.accs[t].tag
        v.i = other.accs[t].i
        v.f = other.accs[t].f
        v.o = <PyObject*>held
        self.remove_value(s, &v)
        if self.code == R_MEAN:
            self.accs[s].n -= other.accs[t].n
    return 0


cdef list agg_entries(HashAgg self, bint with_values):
    """``[(key, partial or None, records), ...]`` for window checkpoints."""
    cdef list out = []
    cdef Py_ssize_t s
    for s in range(self.size):
        if self.accs[s].tag != T_DEAD:
            out.append(
                (self.key_at(s), self.partial(s) if with_values else None, self.accs[s].r)
            )
    return out


cdef int agg_restore(HashAgg self, object entries, bint with_values) except -1:
    """Inverse of ``agg_entries``."""
    cdef Py_ssize_t s
    for key, part, records in entries:
        s = self.slot_for(key)
        if with_values:
            self.merge_one(s, part)
        self.accs[s].r += <int64_t>records
    return 0


cdef class SlidingWindow:
    """Per-key aggregate over the last ``window_panes`` pushes (processing-time slides)."""

    cdef Py_ssize_t size
    cdef object reducer
    cdef object inverse
    cdef bint incr
    cdef object live       # deque of pane HashAggs, oldest first
    cdef HashAgg running   # keys in entry order, live record counts, running values

    def __cinit__(self, window_panes, reducer, inverse=None):
        self.size = check_window(window_panes)
        code = reducer_code(reducer)
        check_inverse(code, inverse)
        self.reducer = reducer
        self.inverse = inverse
        self.incr = code in (SUM, COUNT, MEAN) or (code == CALL and inverse is not None)
        self.live = deque()
        self.running = HashAgg(reducer)

    def __len__(self):
        """Keys currently in the window."""
        return len(self.running)

    @property
    def incremental(self) -> bool:
        """Whether expiry subtracts (True) or results re-merge the live panes."""
        return self.incr

    cdef int add_pane(self, HashAgg pane) except -1:
        """Calculate adds: the new pane's records (and values) join the window."""
        self.live.append(pane)
        self.running.merge_from(pane, self.incr)
        return 0

    cdef int expire_oldest(self) except -1:
        """Calculate deletes: take the oldest pane out, dropping keys left with no records."""
        cdef HashAgg pane = self.live.popleft()
        agg_expire(self.running, pane, self.inverse, self.incr)
        return 0

    def push(self, pairs) -> None:
        """Append one pane of raw ``(key, value)`` records; expire the oldest if full."""
        cdef HashAgg pane = HashAgg(self.reducer)
        pane.add_pairs(pairs)
        self.add_pane(pane)
        if len(self.live) > self.size:
            self.expire_oldest()

    def result(self) -> list:
        """Finalized aggregate over the live panes, keys in window-entry order."""
        if self.incr:
            return self.running.results()
        cdef HashAgg total = HashAgg(self.reducer)
        cdef HashAgg running = self.running
        cdef list out = []
        cdef Py_ssize_t s
        for pane in self.live:
            total.merge_from(<HashAgg>pane, True)
        for s in range(running.size):
            if running.accs[s].tag != T_DEAD:
                key = running.key_at(s)
                out.append((key, total.finalize(total.find(key))))
        return out

    def to_state(self) -> tuple:
        """Checkpoint as plain data: ``(version, [panes, running])`` (see window_ref)."""
        panes = [agg_entries(<HashAgg>pane, True) for pane in self.live]
        return (STATE_VERSION, [panes, agg_entries(self.running, self.incr)])

    @classmethod
    def from_state(cls, window_panes, reducer, inverse, state) -> SlidingWindow:
        """Rebuild a window from ``to_state()`` (reducer and inverse are code, so not stored)."""
        cdef SlidingWindow window = cls(window_panes, reducer, inverse)
        cdef HashAgg agg
        panes, entries = check_state(state, "SlidingWindow")
        for pane_entries in panes:
            agg = HashAgg(reducer)
            agg_restore(agg, pane_entries, True)
            window.live.append(agg)
        agg_restore(window.running, entries, window.incr)
        while len(window.live) > window.size:  # restored into a shorter window
            window.expire_oldest()
        return window
