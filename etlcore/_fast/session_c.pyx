# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled session windows: the interface and results of ``session_ref``, in C.

Per key, a C array of open sessions ``(start, last, count, id)`` sorted by
start; keys map to slots through a dict. Each event costs one dict lookup and
a step or two back from the key's latest session. Aggregates live in a
``hashagg_c.HashAgg`` keyed by session id (int keys: its C table), folded and
merged slot to slot; ``count`` needs none (the session's count is the value).
Finished sessions are found with a binary heap of ``(first session's last +
gap, slot)``, at most one live entry per key: an entry whose key was extended
is pushed again when popped, so finishing costs O(finished + re-checked), not
O(open keys), and a batch does no heap work for the keys it merely extends.
"""

from operator import index

from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t
from libc.stdlib cimport qsort
from libc.string cimport memmove

from etlcore._fast.hashagg_c cimport HashAgg, Val, classify, make_row

from etlcore._fast._common import COUNT, STATE_VERSION, check_state, reducer_code
from etlcore._fast.session_ref import LIMIT, US, check_time, seconds

__all__ = ["SessionStore", "check_time"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept
    Py_ssize_t PyLong_AsSsize_t(object) except? -1

cdef int64_t C_LIMIT = LIMIT
cdef int64_t EXACT = 2**53  # ints below this convert to double exactly: x / US as in Python


cdef struct Sess:
    int64_t start
    int64_t last
    int64_t count
    int64_t sid      # key of the aggregate in SessionStore.aggs
    int changed


cdef struct Slot:
    Sess* s          # open sessions, sorted by start
    Py_ssize_t n
    Py_ssize_t cap
    int64_t seq      # order the key was first seen in
    int64_t stamp    # last batch that touched it
    int64_t due      # last batch that found it due
    int64_t pushed   # ``when`` of its live heap entry, if queued
    int queued       # has a live heap entry


cdef struct Entry:
    int64_t when     # the slot's first session's last + gap, when pushed
    Py_ssize_t slot


cdef struct Order:
    int64_t a        # rows: start; due keys: seq
    int64_t b        # rows: last
    Py_ssize_t i     # position emitted (rows) or slot (due keys)


cdef int by_order(const void* x, const void* y) noexcept nogil:
    """(a, b, i) ascending: i breaks ties, so the sort is stable."""
    cdef const Order* p = <const Order*>x
    cdef const Order* q = <const Order*>y
    if p.a != q.a:
        return -1 if p.a < q.a else 1
    if p.b != q.b:
        return -1 if p.b < q.b else 1
    return -1 if p.i < q.i else (1 if p.i > q.i else 0)


cdef inline object secs(int64_t us):
    """``us / 1e6`` as Python's int true division gives it."""
    if -EXACT < us < EXACT:
        return <double>us / 1e6
    return seconds(us)


cdef inline int64_t as_time(object t) except? -1:
    """An event time as int64 in C, checked as ``check_time`` does."""
    cdef int overflow = 0
    cdef long long x
    if PyLong_CheckExact(t):
        x = PyLong_AsLongLongAndOverflow(t, &overflow)
        if not overflow and -C_LIMIT < x < C_LIMIT:
            return x
    return check_time(t)


cdef class SessionStore:
    """Open sessions per key for one key partition, and the rows a batch makes due."""

    cdef int64_t gap
    cdef object reducer
    cdef bint counting
    cdef HashAgg aggs
    cdef dict index          # key -> slot
    cdef list keys           # slot -> key (None when free)
    cdef list free           # free slots
    cdef Slot* slots
    cdef Py_ssize_t nslots
    cdef Py_ssize_t slots_cap
    cdef Entry* heap
    cdef Py_ssize_t nheap
    cdef Py_ssize_t heap_cap
    cdef int64_t next_seq
    cdef int64_t next_sid
    cdef int64_t stamp
    cdef Py_ssize_t open

    def __cinit__(self, gap_us, reducer):
        self.gap = check_time(gap_us, "gap")
        if self.gap <= 0:
            raise ValueError(f"gap must be positive, not {gap_us}")
        self.counting = reducer_code(reducer) == COUNT
        self.reducer = reducer
        self.aggs = HashAgg(reducer)
        self.index = {}
        self.keys = []
        self.free = []

    def __dealloc__(self):
        cdef Py_ssize_t j
        if self.slots != NULL:
            for j in range(self.nslots):
                PyMem_Free(self.slots[j].s)
        PyMem_Free(self.slots)
        PyMem_Free(self.heap)

    def __len__(self):
        """Open sessions over all keys."""
        return self.open

    # -- keys and sessions -----------------------------------------------------------

    cdef Py_ssize_t slot_of(self, object key) except -1:
        """The key's slot, made (or reused) on first sight."""
        cdef PyObject* got = PyDict_GetItemWithError(self.index, key)
        cdef Py_ssize_t slot
        cdef Slot* grown
        if got != NULL:
            return PyLong_AsSsize_t(<object>got)
        if self.free:
            slot = self.free.pop()
            self.keys[slot] = key
        else:
            if self.nslots == self.slots_cap:
                cap = self.slots_cap * 2 if self.slots_cap else 64
                grown = <Slot*>PyMem_Realloc(self.slots, cap * sizeof(Slot))
                if grown == NULL:
                    raise MemoryError()
                self.slots = grown
                self.slots_cap = cap
            slot = self.nslots
            self.slots[slot].s = NULL
            self.slots[slot].cap = 0
            self.nslots += 1
            self.keys.append(key)
        self.index[key] = slot
        self.slots[slot].n = 0
        self.slots[slot].seq = self.next_seq
        self.slots[slot].stamp = -1
        self.slots[slot].due = -1
        self.slots[slot].queued = 0
        self.next_seq += 1
        return slot

    cdef int release(self, Py_ssize_t slot) except -1:
        """Forget a key whose sessions all finished (its arrays are kept for reuse)."""
        del self.index[self.keys[slot]]
        self.keys[slot] = None
        self.free.append(slot)
        return 0

    cdef Sess* insert(self, Py_ssize_t slot, Py_ssize_t at, int64_t t) except NULL:
        """A new one-event-wide session at position ``at`` of the slot's sessions."""
        cdef Slot* k = &self.slots[slot]
        cdef Sess* grown
        cdef Py_ssize_t cap
        if k.n == k.cap:
            cap = k.cap * 2 if k.cap else 2
            grown = <Sess*>PyMem_Realloc(k.s, cap * sizeof(Sess))
            if grown == NULL:
                raise MemoryError()
            k.s = grown
            k.cap = cap
        if at < k.n:
            memmove(&k.s[at + 1], &k.s[at], (k.n - at) * sizeof(Sess))
        k.n += 1
        self.open += 1
        k.s[at].start = t
        k.s[at].last = t
        k.s[at].count = 0
        k.s[at].sid = self.next_sid
        k.s[at].changed = 1
        self.next_sid += 1
        if not self.counting:
            self.aggs.slot_for(k.s[at].sid)
        return &k.s[at]

    cdef inline Py_ssize_t agg_slot(self, int64_t sid) except -2:
        """The aggregate slot of session ``sid`` (int keys: the C table, no Python int)."""
        return self.aggs.table_slot(sid, None, False)

    cdef int fold(self, Sess* s, object value) except -1:
        cdef Val v
        if self.counting:
            return 0
        classify(value, &v)
        self.aggs.fold_value(self.agg_slot(s.sid), &v)
        return 0

    cdef int absorb(self, Sess* into, Sess* other) except -1:
        """Merge ``other``'s aggregate into ``into``'s, then drop ``other``'s."""
        cdef Py_ssize_t a, b
        cdef Val v
        cdef object held
        if self.counting:
            return 0
        a = self.agg_slot(into.sid)
        b = self.agg_slot(other.sid)
        held = self.aggs.objs[b]
        v.tag = self.aggs.accs[b].tag
        v.i = self.aggs.accs[b].i
        v.f = self.aggs.accs[b].f
        v.o = <PyObject*>held
        self.aggs.fold_partial(a, &v, self.aggs.accs[b].n)
        self.aggs.discard(b)
        return 0

    cdef object value(self, Sess* s):
        if self.counting:
            return s.count
        return self.aggs.finalize(self.agg_slot(s.sid))

    cdef object partial(self, Sess* s):
        if self.counting:
            return s.count
        return self.aggs.partial(self.agg_slot(s.sid))

    cdef int add(self, Py_ssize_t slot, int64_t t, object value) except -1:
        """One event into a key's sessions: join, bridge (merge) or start one."""
        cdef Slot* k = &self.slots[slot]
        cdef Py_ssize_t i = k.n - 1
        cdef int64_t gap = self.gap
        cdef Sess* s
        cdef Sess* nxt
        while i >= 0 and k.s[i].start > t:
            i -= 1
        cdef bint joins_prev = i >= 0 and t <= k.s[i].last + gap
        cdef bint joins_next = i + 1 < k.n and k.s[i + 1].start <= t + gap
        if joins_prev:
            s = &k.s[i]
            if t > s.last:
                s.last = t
        elif joins_next:
            s = &k.s[i + 1]
            s.start = t
        else:
            s = self.insert(slot, i + 1, t)
            k = &self.slots[slot]
        s.count += 1
        s.changed = 1
        self.fold(s, value)
        if joins_prev and joins_next:  # the event bridges two sessions
            nxt = &k.s[i + 1]
            if nxt.last > s.last:
                s.last = nxt.last
            s.count += nxt.count
            self.absorb(s, nxt)
            memmove(&k.s[i + 1], &k.s[i + 2], (k.n - i - 2) * sizeof(Sess))
            k.n -= 1
            self.open -= 1
        return 0

    cdef object row(self, Py_ssize_t slot, Sess* s, object result):
        if result is None:
            return (self.keys[slot], s.start, s.last, self.value(s), s.count)
        return make_row(result, (self.keys[slot], secs(s.start), secs(s.last + self.gap),
                                 self.value(s), s.count))

    cdef int note(self, Order** rows, Py_ssize_t* cap, Py_ssize_t n, Sess* s) except -1:
        """Record row ``n``'s window for the final sort."""
        cdef Order* grown
        if n == cap[0]:
            cap[0] = cap[0] * 2 if cap[0] else 256
            grown = <Order*>PyMem_Realloc(rows[0], cap[0] * sizeof(Order))
            if grown == NULL:
                raise MemoryError()
            rows[0] = grown
        rows[0][n].a = s.start
        rows[0][n].b = s.last
        rows[0][n].i = n
        return 0

    # -- the expiry heap ---------------------------------------------------------------

    cdef int push(self, int64_t when, Py_ssize_t slot) except -1:
        cdef Entry* grown
        cdef Py_ssize_t i, parent, cap
        if self.nheap == self.heap_cap:
            cap = self.heap_cap * 2 if self.heap_cap else 64
            grown = <Entry*>PyMem_Realloc(self.heap, cap * sizeof(Entry))
            if grown == NULL:
                raise MemoryError()
            self.heap = grown
            self.heap_cap = cap
        i = self.nheap
        self.nheap += 1
        while i > 0:
            parent = (i - 1) >> 1
            if self.heap[parent].when <= when:
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i].when = when
        self.heap[i].slot = slot
        return 0

    cdef int schedule(self, Py_ssize_t slot) except -1:
        """Make sure the heap holds an entry no later than the slot's first session's expiry.

        An entry is pushed only when there is none yet or the expiry moved
        earlier (a new first session); one that moved later is found stale
        when popped and pushed again then, so a key costs heap work once per
        expiry check, not once per batch that touches it.
        """
        cdef Slot* k = &self.slots[slot]
        cdef int64_t when = k.s[0].last + self.gap
        if not k.queued or when < k.pushed:
            self.push(when, slot)
            k.pushed = when
            k.queued = 1
        return 0

    cdef Entry pop(self) noexcept:
        """The earliest entry, removed (the heap must not be empty)."""
        cdef Entry top = self.heap[0]
        cdef Entry last
        cdef Py_ssize_t i = 0, child, n
        self.nheap -= 1
        n = self.nheap
        if n == 0:
            return top
        last = self.heap[n]
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and self.heap[child + 1].when < self.heap[child].when:
                child += 1
            if self.heap[child].when >= last.when:
                break
            self.heap[i] = self.heap[child]
            i = child
        self.heap[i] = last
        return top

    # -- batches -----------------------------------------------------------------------

    def process(self, keys, times_us, values, wm_us, bint update, result=None) -> list:
        """Apply a batch's events (columns, arrival order); the rows due, finished ones dropped.

        Rows are ``(key, start_us, last_us, value, count)``, or with ``result``
        (a 5-field tuple subclass such as SessionResult) ``result(key, start_s,
        (last + gap)_s, value, count)`` built with no Python call per row.
        """
        cdef list ks = keys if PyList_CheckExact(keys) else list(keys)
        cdef list ts = times_us if PyList_CheckExact(times_us) else list(times_us)
        cdef list vs = values if PyList_CheckExact(values) else list(values)
        cdef Py_ssize_t n = len(ks)
        if not n == len(ts) == len(vs):
            raise ValueError("process: keys, times_us and values differ in length")
        cdef Py_ssize_t i, j, m, slot, nt = 0, nd = 0, nr = 0, rows_cap = 0
        cdef int64_t t, wm = 0
        cdef Slot* k
        cdef list out = []
        cdef list ordered
        cdef Order* rows = NULL
        cdef Order* due = NULL
        cdef Entry entry
        cdef Py_ssize_t* touched = <Py_ssize_t*>PyMem_Malloc((n + 1) * sizeof(Py_ssize_t))
        if touched == NULL:
            raise MemoryError()
        self.stamp += 1
        try:
            if wm_us is not None:
                wm = check_time(wm_us, "watermark")
            for i in range(n):
                t = as_time(ts[i])
                slot = self.slot_of(ks[i])
                k = &self.slots[slot]
                if k.stamp != self.stamp:
                    k.stamp = self.stamp
                    touched[nt] = slot
                    nt += 1
                self.add(slot, t, vs[i])
            for j in range(nt):
                k = &self.slots[touched[j]]
                if update:
                    for i in range(k.n):
                        if k.s[i].changed:
                            self.note(&rows, &rows_cap, nr, &k.s[i])
                            out.append(self.row(touched[j], &k.s[i], result))
                            nr += 1
                            k.s[i].changed = 0
                self.schedule(touched[j])
            if wm_us is not None:
                due = <Order*>PyMem_Malloc((self.nheap + 1) * sizeof(Order))
                if due == NULL:
                    raise MemoryError()
                while self.nheap and self.heap[0].when <= wm:
                    entry = self.pop()
                    slot = entry.slot
                    k = &self.slots[slot]
                    if not k.queued or entry.when != k.pushed or not k.n:
                        continue  # superseded by an earlier entry, or the key is gone
                    k.queued = 0
                    if k.s[0].last + self.gap > wm:  # extended since: check again later
                        self.schedule(slot)
                        continue
                    if k.due != self.stamp:
                        k.due = self.stamp
                        due[nd].a = k.seq
                        due[nd].b = 0
                        due[nd].i = slot
                        nd += 1
                qsort(due, nd, sizeof(Order), by_order)
                for j in range(nd):
                    slot = due[j].i
                    k = &self.slots[slot]
                    m = 0
                    while m < k.n and k.s[m].last + self.gap <= wm:
                        if not update:
                            self.note(&rows, &rows_cap, nr, &k.s[m])
                            out.append(self.row(slot, &k.s[m], result))
                            nr += 1
                        if not self.counting:
                            self.aggs.discard(self.agg_slot(k.s[m].sid))
                        m += 1
                    k.n -= m
                    self.open -= m
                    if k.n:
                        memmove(&k.s[0], &k.s[m], k.n * sizeof(Sess))
                        self.schedule(slot)
                    else:
                        self.release(slot)
            # window order (start, last); ties keep the order emitted
            qsort(rows, nr, sizeof(Order), by_order)
            ordered = [None] * nr
            for j in range(nr):
                ordered[j] = out[rows[j].i]
            return ordered
        finally:
            PyMem_Free(touched)
            PyMem_Free(due)
            PyMem_Free(rows)

    # -- checkpoints -------------------------------------------------------------------

    def to_state(self) -> tuple:
        """``(version, [(key, [(start, last, count, partial), ...]), ...])``, keys in seen order."""
        cdef Py_ssize_t slot, i
        cdef Slot* k
        live = []
        for slot in range(self.nslots):
            if self.slots[slot].n:
                live.append((self.slots[slot].seq, slot))
        live.sort()
        out = []
        for _seq, slot in live:
            k = &self.slots[slot]
            out.append((self.keys[slot], [(k.s[i].start, k.s[i].last, k.s[i].count,
                                           self.partial(&k.s[i])) for i in range(k.n)]))
        return (STATE_VERSION, out)

    @classmethod
    def from_state(cls, gap_us, reducer, state) -> SessionStore:
        """Rebuild a store from ``to_state()`` (changed marks are not kept)."""
        cdef SessionStore store = cls(gap_us, reducer)
        cdef Py_ssize_t slot
        cdef Sess* s
        for key, sessions in check_state(state, "SessionStore"):
            if not sessions:
                continue
            slot = store.slot_of(key)
            for start, last, count, partial in sessions:
                s = store.insert(slot, store.slots[slot].n, check_time(start))
                s.last = check_time(last)
                s.count = index(count)
                s.changed = 0
                if not store.counting:
                    store.aggs.merge_one(store.agg_slot(s.sid), partial)
            store.schedule(slot)
        return store
