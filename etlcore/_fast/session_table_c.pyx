# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The session kernel's state: per key, its open sessions; their merge and their expiry.

Per key, a C array of open sessions ``(start, last, count, id)`` sorted by
start (``session_types.pxd``). Exact-int keys that fit int64 find their slot
through an open-addressing C table (``inttable.pxd``; no Python call, no key
object compared); the first key of any other type moves the index to a dict
for good, so Python equality (``1 == 1.0``) keeps applying.

Each event costs one table probe and a step or two back from the key's
latest session: it joins a session, bridges two (the earlier absorbs the
later) or starts one. Aggregates live in a ``hashagg_c.HashAgg`` keyed by
session id (int keys: its C table), folded and merged slot to slot; ``count``
needs none (the session's count is the value). Finished sessions are found
with a binary heap (``expiryheap.pxd``) of ``(first session's last + gap,
slot)``, at most one live entry per key: an entry whose key was extended is
pushed again when popped, so finishing costs O(finished + re-checked), not
O(open keys), and a batch does no heap work for the keys it merely extends.

``session_c.SessionStore`` is this table plus reading batches and emitting
rows; checkpoints (``to_state``/``from_state``) are the table's.
"""

from operator import index

from cpython.dict cimport PyDict_GetItemWithError
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t
from libc.string cimport memmove

from etlcore._fast.expiryheap cimport Entry, eh_free, eh_pop, eh_push
from etlcore._fast.hashagg_c cimport HashAgg, Val, classify
from etlcore._fast.inttable cimport it_drop_slot, it_free, it_get, it_init, it_setdefault
from etlcore._fast.session_types cimport M_DICT, M_INT, M_NEW, Sess, Slot, grow
from etlcore._fast.times_c cimport int64_of

from etlcore._fast._common import COUNT, STATE_VERSION, check_state, reducer_code
from etlcore._fast.session_ref import check_time

__all__ = ["SessionTable"]

cdef extern from "Python.h":
    Py_ssize_t PyLong_AsSsize_t(object) except? -1


cdef class SessionTable:
    """Open sessions per key for one key partition: fold events, merge, expire."""

    def __cinit__(self, gap_us, reducer):
        self.gap = check_time(gap_us, "gap")
        if self.gap <= 0:
            raise ValueError(f"gap must be positive, not {gap_us}")
        self.counting = reducer_code(reducer) == COUNT
        self.reducer = reducer
        self.aggs = HashAgg(reducer)
        self.keys = []
        self.mode = M_NEW

    def __dealloc__(self):
        cdef Py_ssize_t j
        if self.slots != NULL:
            for j in range(self.nslots):
                PyMem_Free(self.slots[j].s)
        PyMem_Free(self.slots)
        PyMem_Free(self.free)
        it_free(&self.table)
        eh_free(&self.heap)

    def __len__(self):
        """Open sessions over all keys."""
        return self.open

    # -- keys --------------------------------------------------------------------------

    cdef Py_ssize_t new_slot(self, object key) except -1:
        """A slot for a key seen for the first time (or again after all its sessions ended)."""
        cdef Py_ssize_t slot
        if self.nfree:
            self.nfree -= 1
            slot = self.free[self.nfree]
            self.keys[slot] = key
        else:
            if self.nslots == self.slots_cap:
                self.slots = <Slot*>grow(self.slots, &self.slots_cap, self.nslots + 1,
                                         sizeof(Slot))
            slot = self.nslots
            self.slots[slot].s = NULL
            self.slots[slot].cap = 0
            self.nslots += 1
            self.keys.append(key)
        self.slots[slot].n = 0
        self.slots[slot].seq = self.next_seq
        self.slots[slot].stamp = -1
        self.slots[slot].queued = 0
        self.slots[slot].used = 1
        self.next_seq += 1
        return slot

    cdef inline Py_ssize_t int_slot(self, int64_t k, PyObject* key) except -1:
        """The slot of int key ``k`` (``key`` is its object), made on first sight."""
        cdef Py_ssize_t slot = <Py_ssize_t>it_get(&self.table, self.ikeys(), slot_stride(), k)
        if slot >= 0:
            if self.slots[slot].n == 0:  # a finished key is back: seen anew, as a new key
                self.slots[slot].seq = self.next_seq
                self.slots[slot].stamp = -1
                self.slots[slot].queued = 0
                self.next_seq += 1
                self.ndormant -= 1
            return slot
        slot = self.new_slot(None)  # the key is its int64: a row makes its int afresh
        self.slots[slot].ikey = k
        it_setdefault(&self.table, self.ikeys(), slot_stride(), k, slot)
        return slot

    cdef int free_dormant(self) except -1:
        """Forget the finished int keys kept for their return (too many, or leaving M_INT)."""
        cdef Py_ssize_t slot
        for slot in range(self.nslots):
            if self.slots[slot].used and self.slots[slot].n == 0:
                it_drop_slot(&self.table, self.slots[slot].ikey, slot)
                self.free_slot(slot)
        self.ndormant = 0
        return 0

    cdef int free_slot(self, Py_ssize_t slot) except -1:
        self.slots[slot].used = 0
        if self.nfree == self.free_cap:
            self.free = <Py_ssize_t*>grow(self.free, &self.free_cap, self.nfree + 1,
                                          sizeof(Py_ssize_t))
        self.free[self.nfree] = slot
        self.nfree += 1
        return 0

    cdef int to_dict_mode(self) except -1:
        """A key that is not an exact int64 arrived: index every key by a dict from now on."""
        cdef Py_ssize_t slot
        cdef object key
        if self.ndormant:
            self.free_dormant()
        self.index = {}
        for slot in range(self.nslots):
            if self.slots[slot].used:
                key = self.slots[slot].ikey
                self.keys[slot] = key
                self.index[key] = slot
        it_free(&self.table)
        self.mode = M_DICT
        return 0

    cdef Py_ssize_t dict_slot(self, object key) except -1:
        cdef PyObject* got = PyDict_GetItemWithError(self.index, key)
        cdef Py_ssize_t slot
        if got != NULL:
            return PyLong_AsSsize_t(<object>got)
        slot = self.new_slot(key)
        self.index[key] = slot
        return slot

    cdef Py_ssize_t slot_of(self, object key) except -1:
        """The key's slot, made on first sight (any key: the index mode follows it)."""
        cdef int64_t k
        if self.mode != M_DICT and int64_of(key, &k):
            if self.mode == M_NEW:
                it_init(&self.table, 32)
                self.mode = M_INT
            return self.int_slot(k, <PyObject*>key)
        if self.mode != M_DICT:
            self.to_dict_mode()
        return self.dict_slot(key)

    cdef int release(self, Py_ssize_t slot) except -1:
        """Forget a key whose sessions all finished (its arrays are kept for reuse).

        An int key keeps its slot and table cell, dormant, until it returns (users come
        back: no delete and re-insert per session) or dormant keys outnumber live ones.
        """
        if self.mode == M_INT:
            self.ndormant += 1
            if self.ndormant > 1024 and 2 * self.ndormant > self.nslots - self.nfree:
                self.free_dormant()
            return 0
        del self.index[self.keys[slot]]
        self.keys[slot] = None
        return self.free_slot(slot)

    # -- sessions ----------------------------------------------------------------------

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

    cdef int fold(self, Sess* s, PyObject* value) except -1:
        cdef Val v
        if self.counting:
            return 0
        classify(<object>value, &v)
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
        held = self.aggs.obj_at(b)
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

    cdef int add(self, Py_ssize_t slot, int64_t t, PyObject* value) except -1:
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
            if i < 0:  # a new first session: the key may expire earlier than its heap entry
                self.schedule(slot)
                s = &k.s[0]
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

    cdef Py_ssize_t fold_events(self, Py_ssize_t n, const int64_t* times,
                                const int64_t* ikeys, PyObject** keys, PyObject** vals,
                                bint need_dict, Py_ssize_t* touched) except -1:
        """Fold ``n`` events (arrival order); the number of slots noted in ``touched``.

        ``ikeys[i]`` is ``keys[i]`` as int64 unless ``need_dict`` (some key is
        not one). With ``touched`` (update mode; else NULL) each slot the batch
        touched is listed once. The expiry heap is kept in ``add`` (only a new
        first session can make a key due earlier), so a batch that emits final
        sessions does not revisit the keys it touched.
        """
        cdef Py_ssize_t i, slot, ntouched = 0
        cdef Slot* k
        cdef int64_t stamp
        self.stamp += 1
        stamp = self.stamp
        if need_dict and self.mode != M_DICT:
            self.to_dict_mode()
        elif self.mode == M_NEW and n:
            it_init(&self.table, 32)
            self.mode = M_INT
        for i in range(n):
            if self.mode == M_INT:
                slot = self.int_slot(ikeys[i], keys[i])
            else:
                slot = self.dict_slot(<object>keys[i])
            if touched != NULL:
                k = &self.slots[slot]
                if k.stamp != stamp:
                    k.stamp = stamp
                    touched[ntouched] = slot
                    ntouched += 1
            self.add(slot, times[i], vals[i])
        return ntouched

    # -- expiry by watermark -------------------------------------------------------------

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
            eh_push(&self.heap, when, slot)
            k.pushed = when
            k.queued = 1
        return 0

    cdef Py_ssize_t next_due(self, int64_t wm) except -2:
        """A key whose first session ``wm`` finished, its entry popped; -1 when none is left.

        A key's live entry pops once (one pushed again is later than ``wm``);
        entries superseded by an earlier one, or of a key gone, are skipped.
        """
        cdef Entry entry
        cdef Slot* k
        while self.heap.n and self.heap.e[0].when <= wm:
            entry = eh_pop(&self.heap)
            k = &self.slots[entry.slot]
            if not k.queued or entry.when != k.pushed or not k.n:
                continue  # superseded by an earlier entry, or the key is gone
            k.queued = 0
            if k.s[0].last + self.gap > wm:  # extended since: check again later
                self.schedule(entry.slot)
                continue
            return entry.slot
        return -1

    cdef int drop_first(self, Py_ssize_t slot, Py_ssize_t m) except -1:
        """Forget the key's first ``m`` sessions (finished, their rows made) and their
        aggregates; the key itself when none is left, else it is queued again."""
        cdef Slot* k = &self.slots[slot]
        cdef Py_ssize_t i
        if not self.counting:
            for i in range(m):
                self.aggs.discard(self.agg_slot(k.s[i].sid))
        k.n -= m
        self.open -= m
        if k.n:
            memmove(&k.s[0], &k.s[m], k.n * sizeof(Sess))
            self.schedule(slot)
        else:
            self.release(slot)
        return 0

    # -- checkpoints -------------------------------------------------------------------

    def to_state(self) -> tuple:
        """``(version, [(key, [(start, last, count, partial), ...]), ...])``, keys in seen order."""
        cdef Py_ssize_t slot, i
        cdef Slot* k
        live = []
        for slot in range(self.nslots):
            if self.slots[slot].used and self.slots[slot].n:
                live.append((self.slots[slot].seq, slot))
        live.sort()
        out = []
        for _seq, slot in live:
            k = &self.slots[slot]
            out.append((self.key_of(slot), [(k.s[i].start, k.s[i].last, k.s[i].count,
                                           self.partial(&k.s[i])) for i in range(k.n)]))
        return (STATE_VERSION, out)

    @classmethod
    def from_state(cls, gap_us, reducer, state):
        """Rebuild a store from ``to_state()`` (changed marks are not kept)."""
        cdef SessionTable store = cls(gap_us, reducer)
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
