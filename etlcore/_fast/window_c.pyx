# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled pane-based windows: the interface and results of ``window_ref``, in C.

Panes are ``hashagg_c.HashAgg`` objects whose slots also count the records
they folded; window maintenance merges and expires them slot to slot
(``merge_from``/``expire_from``) without materialising Python partials.
"""

from collections import deque
from operator import index

from etlcore._fast.hashagg_c cimport T_DEAD, HashAgg

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

__all__ = ["PaneStore", "SlidingWindow"]


cdef class PaneStore:
    """Per-pane, per-key partial aggregates, merged over any range of panes."""

    cdef object reducer
    cdef dict store

    def __cinit__(self, reducer):
        reducer_code(reducer)
        self.reducer = reducer
        self.store = {}

    def __len__(self):
        return len(self.store)

    def add(self, pane, pairs) -> None:
        """Fold raw ``(key, value)`` records into pane ``pane``."""
        pane = index(pane)
        agg = self.store.get(pane)
        if agg is None:
            agg = self.store[pane] = HashAgg(self.reducer)
        (<HashAgg>agg).add_pairs(pairs)

    def merge_range(self, first, last) -> list:
        """Finalized aggregate over panes ``first..last`` inclusive."""
        first, last = index(first), index(last)
        cdef HashAgg total = HashAgg(self.reducer)
        for pane in sorted(self.store):
            if first <= pane <= last:
                total.merge_from(<HashAgg>self.store[pane], True)
        return total.results()

    def drop_before(self, pane) -> None:
        """Forget every pane older than ``pane`` (they left every window)."""
        pane = index(pane)
        for old in [p for p in self.store if p < pane]:
            del self.store[old]

    def panes(self) -> list:
        """Pane numbers held, ascending."""
        return sorted(self.store)

    def to_state(self) -> tuple:
        """Checkpoint as plain data: ``(version, [(pane, partials), ...])``."""
        return (STATE_VERSION, [(p, self.store[p].partials()) for p in sorted(self.store)])

    @classmethod
    def from_state(cls, reducer, state) -> PaneStore:
        """Rebuild a store from ``to_state()``."""
        cdef PaneStore store = cls(reducer)
        cdef HashAgg agg
        for pane, partials in check_state(state, "PaneStore"):
            agg = store.store[index(pane)] = HashAgg(reducer)
            agg.merge_partials(partials)
        return store


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
        self.running.expire_from(pane, self.inverse, self.incr)
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
                key = running.keys[s]
                out.append((key, total.finalize(total.find(key))))
        return out

    def to_state(self) -> tuple:
        """Checkpoint as plain data: ``(version, [panes, running])`` (see window_ref)."""
        panes = [(<HashAgg>pane).entries(True) for pane in self.live]
        return (STATE_VERSION, [panes, self.running.entries(self.incr)])

    @classmethod
    def from_state(cls, window_panes, reducer, inverse, state) -> SlidingWindow:
        """Rebuild a window from ``to_state()`` (reducer and inverse are code, so not stored)."""
        cdef SlidingWindow window = cls(window_panes, reducer, inverse)
        cdef HashAgg agg
        panes, entries = check_state(state, "SlidingWindow")
        for pane_entries in panes:
            agg = HashAgg(reducer)
            agg.restore_entries(pane_entries, True)
            window.live.append(agg)
        window.running.restore_entries(entries, window.incr)
        while len(window.live) > window.size:  # restored into a shorter window
            window.expire_oldest()
        return window
