# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled session windows: the interface and results of ``session_ref``, in C.

Per key, a C array of open sessions ``(start, last, count, id)`` sorted by
start. Exact-int keys that fit int64 find their slot through an
open-addressing C table (``inttable.pxd``; no Python call, no key
object compared); the first key of any other type moves the index to a dict
for good, so Python equality (``1 == 1.0``) keeps applying. A batch is read
first into C buffers (times as int64 microseconds, keys, values), then
folded: an error in the input (a missing field, an odd time, an unhashable
key) leaves the store untouched. ``process_records`` reads the time, key and
value fields of tuple, list and dict records itself, so a batch costs no
Python call and no object per event.

Each event costs one table probe and a step or two back from the key's
latest session. Aggregates live in a ``hashagg_c.HashAgg`` keyed by session
id (int keys: its C table), folded and merged slot to slot; ``count`` needs
none (the session's count is the value). Finished sessions are found with a
binary heap of ``(first session's last + gap, slot)``, at most one live entry
per key: an entry whose key was extended is pushed again when popped, so
finishing costs O(finished + re-checked), not O(open keys), and a batch does
no heap work for the keys it merely extends.
"""

from operator import index

from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError
from cpython.list cimport PyList_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport PyObject_Hash, PyTypeObject
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_SET_ITEM
from libc.stdint cimport int64_t
from libc.string cimport memmove

from etlcore._fast.hashagg_c cimport (
    F_INDEX,
    F_KEY,
    F_NONE,
    F_RECORD,
    HashAgg,
    Val,
    classify,
    PyObject_GC_IsTracked,
    PyObject_GC_UnTrack,
    make_row,
    read_field,
)
from etlcore._fast.inttable cimport IntTable, it_free, it_get, it_init, it_pop, it_setdefault
from etlcore._fast.times_c cimport int64_of, is_late, raise_top, time_us

from etlcore._fast._common import COUNT, STATE_VERSION, check_field, check_state, reducer_code
from etlcore._fast.session_ref import LIMIT, US, check_time, seconds

__all__ = ["SessionStore", "check_time"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept
    object PyType_GenericAlloc(PyTypeObject*, Py_ssize_t)
    Py_ssize_t PyLong_AsSsize_t(object) except? -1

cdef int64_t C_LIMIT = LIMIT
cdef int64_t EXACT = 2**53  # ints below this convert to double exactly: x / US as in Python

# key index modes
cdef enum:
    M_NEW = 0   # no key yet
    M_INT = 1   # every key an exact int64: the C table
    M_DICT = 2  # any other key seen: a dict (Python equality)


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
    int64_t pushed   # ``when`` of its live heap entry, if queued
    int64_t ikey     # the key, in M_INT mode
    int queued       # has a live heap entry
    int used         # holds a key (else on the free stack)


cdef struct Entry:
    int64_t when     # the slot's first session's last + gap, when pushed
    Py_ssize_t slot


cdef struct Order:
    int64_t a        # a row's start
    int64_t b        # its last event
    int64_t tie      # then: final rows, the key's seq; update rows, the position emitted
    Py_ssize_t i     # position emitted


cdef inline bint before(const Order* p, const Order* q) noexcept nogil:
    """(a, b, tie) ascending; ``tie`` differs between any two rows of one batch."""
    if p.a != q.a:
        return p.a < q.a
    if p.b != q.b:
        return p.b < q.b
    return p.tie < q.tie


cdef void sort_orders(Order* x, Py_ssize_t n) noexcept nogil:
    """Sort by ``before``: quicksort (median of three) down to runs of 16, then insertion.

    The comparison is inlined (qsort's call per comparison was 8% of W4).
    Keys are unique (``tie`` differs), so no equal-key care is needed.
    """
    cdef Py_ssize_t lo = 0, hi, i, j, mid, top = 0
    cdef Py_ssize_t stack[128]
    cdef Order pivot, tmp
    if n < 2:
        return
    stack[0] = 0
    stack[1] = n - 1
    top = 2
    while top:
        top -= 2
        lo = stack[top]
        hi = stack[top + 1]
        while hi - lo > 16:
            mid = lo + (hi - lo) // 2
            if before(&x[mid], &x[lo]):
                tmp = x[mid]; x[mid] = x[lo]; x[lo] = tmp
            if before(&x[hi], &x[lo]):
                tmp = x[hi]; x[hi] = x[lo]; x[lo] = tmp
            if before(&x[hi], &x[mid]):
                tmp = x[hi]; x[hi] = x[mid]; x[mid] = tmp
            pivot = x[mid]
            i = lo
            j = hi
            while i <= j:
                while before(&x[i], &pivot):
                    i += 1
                while before(&pivot, &x[j]):
                    j -= 1
                if i <= j:
                    tmp = x[i]; x[i] = x[j]; x[j] = tmp
                    i += 1
                    j -= 1
            # the larger side goes on the stack, the smaller is sorted next: depth <= log2(n)
            if j - lo < hi - i:
                if i < hi:
                    stack[top] = i
                    stack[top + 1] = hi
                    top += 2
                hi = j
            else:
                if lo < j:
                    stack[top] = lo
                    stack[top + 1] = j
                    top += 2
                lo = i
        for i in range(lo + 1, hi + 1):
            tmp = x[i]
            j = i - 1
            while j >= lo and before(&tmp, &x[j]):
                x[j + 1] = x[j]
                j -= 1
            x[j + 1] = tmp


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


cdef inline void put(object row, Py_ssize_t j, object item) noexcept:
    """Fill item ``j`` of a fresh tuple (SET_ITEM steals the reference taken here)."""
    Py_INCREF(item)
    PyTuple_SET_ITEM(row, j, item)


def _plain_tuple(cls) -> bool:
    """Whether ``cls`` is a tuple subclass of 5 items without a __dict__ (rows allocated in C)."""
    return (isinstance(cls, type) and issubclass(cls, tuple) and cls.__dictoffset__ == 0
            and len(getattr(cls, "_fields", ())) == 5)


cdef inline void* grow(void* p, Py_ssize_t* cap, Py_ssize_t need, size_t item) except NULL:
    """``p`` reallocated to hold at least ``need`` items (``cap`` updated)."""
    cdef Py_ssize_t c = cap[0] if cap[0] else 64
    cdef void* q
    while c < need:
        c *= 2
    q = PyMem_Realloc(p, c * item)
    if q == NULL:
        raise MemoryError()
    cap[0] = c
    return q


cdef class SessionStore:
    """Open sessions per key for one key partition, and the rows a batch makes due."""

    cdef int64_t gap
    cdef object reducer
    cdef bint counting
    cdef HashAgg aggs
    cdef list keys           # slot -> key (None when free, and for every slot in M_INT mode)
    cdef Slot* slots
    cdef Py_ssize_t nslots
    cdef Py_ssize_t slots_cap
    cdef Py_ssize_t* free    # free slots (a stack)
    cdef Py_ssize_t nfree
    cdef Py_ssize_t free_cap
    cdef Py_ssize_t ndormant  # M_INT: finished keys whose slot and cell are kept for their return
    # key index: M_INT: the C table (int key -> slot); M_DICT: key -> slot
    cdef int mode
    cdef IntTable table
    cdef dict index
    cdef Entry* heap
    cdef Py_ssize_t nheap
    cdef Py_ssize_t heap_cap
    cdef int64_t next_seq
    cdef int64_t next_sid
    cdef int64_t stamp
    cdef Py_ssize_t open
    # one batch, read before it is folded (kept between batches: no allocation per batch)
    cdef int64_t* b_time
    cdef int64_t* b_ikey
    cdef PyObject** b_key    # borrowed from the caller's records or columns
    cdef PyObject** b_val
    cdef Py_ssize_t* touched
    cdef Py_ssize_t b_cap
    cdef Py_ssize_t ntouched
    cdef Order* rows
    cdef Py_ssize_t rows_cap
    cdef bint busy

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
        PyMem_Free(self.heap)
        PyMem_Free(self.b_time)
        PyMem_Free(self.b_ikey)
        PyMem_Free(self.b_key)
        PyMem_Free(self.b_val)
        PyMem_Free(self.touched)
        PyMem_Free(self.rows)

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
        cdef Py_ssize_t slot = <Py_ssize_t>it_get(&self.table, k)
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
        it_setdefault(&self.table, k, slot)
        return slot

    cdef int free_dormant(self) except -1:
        """Forget the finished int keys kept for their return (too many, or leaving M_INT)."""
        cdef Py_ssize_t slot
        for slot in range(self.nslots):
            if self.slots[slot].used and self.slots[slot].n == 0:
                it_pop(&self.table, self.slots[slot].ikey)
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

    cdef inline object key_of(self, Py_ssize_t slot):
        """The slot's key; an int key is made afresh (holding the first one seen would cost a
        cache miss per row on an object allocated long ago)."""
        if self.mode == M_INT:
            return self.slots[slot].ikey
        return self.keys[slot]

    cdef object row(self, Py_ssize_t slot, Sess* s, object result, bint direct):
        """One row; ``direct``: ``result`` is a plain tuple subclass, allocated here as
        ``tuple.__new__`` would, without the temporary tuple ``make_row`` copies."""
        cdef object key, count, row
        if result is None:
            return (self.key_of(slot), s.start, s.last, self.value(s), s.count)
        if not direct:
            return make_row(result, (self.key_of(slot), secs(s.start), secs(s.last + self.gap),
                                     self.value(s), s.count))
        key = self.key_of(slot)
        count = s.count
        row = PyType_GenericAlloc(<PyTypeObject*>result, 5)
        put(row, 0, key)
        put(row, 1, secs(s.start))
        put(row, 2, secs(s.last + self.gap))
        put(row, 3, count if self.counting else self.value(s))
        put(row, 4, count)
        # numbers and untracked keys cannot be part of a cycle: untracked, as make_row does
        if not PyObject_GC_IsTracked(key) and (
                self.counting or not PyObject_GC_IsTracked(<object>PyTuple_GET_ITEM(row, 3))):
            PyObject_GC_UnTrack(<void*>row)
        return row

    cdef int note(self, Py_ssize_t n, Sess* s, int64_t tie) except -1:
        """Record row ``n``'s window for the final sort."""
        if n == self.rows_cap:
            self.rows = <Order*>grow(self.rows, &self.rows_cap, n + 1, sizeof(Order))
        self.rows[n].a = s.start
        self.rows[n].b = s.last
        self.rows[n].tie = tie
        self.rows[n].i = n
        return 0

    # -- the expiry heap ---------------------------------------------------------------

    cdef int push(self, int64_t when, Py_ssize_t slot) except -1:
        cdef Py_ssize_t i, parent
        if self.nheap == self.heap_cap:
            self.heap = <Entry*>grow(self.heap, &self.heap_cap, self.nheap + 1, sizeof(Entry))
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

    cdef int begin(self, Py_ssize_t n) except -1:
        """Claim the batch buffers for ``n`` events (a reducer calling back in is refused)."""
        cdef Py_ssize_t cap
        if self.busy:
            raise RuntimeError("SessionStore.process called again while it runs")
        if n > self.b_cap:
            cap = self.b_cap
            self.b_time = <int64_t*>grow(self.b_time, &cap, n, sizeof(int64_t))
            cap = self.b_cap
            self.b_ikey = <int64_t*>grow(self.b_ikey, &cap, n, sizeof(int64_t))
            cap = self.b_cap
            self.b_key = <PyObject**>grow(self.b_key, &cap, n, sizeof(PyObject*))
            cap = self.b_cap
            self.b_val = <PyObject**>grow(self.b_val, &cap, n, sizeof(PyObject*))
            cap = self.b_cap
            self.touched = <Py_ssize_t*>grow(self.touched, &cap, n, sizeof(Py_ssize_t))
            self.b_cap = cap
        self.busy = True
        return 0

    cdef inline bint int_key(self, object k, Py_ssize_t i) except -1:
        """Buffer event ``i``'s key; False when it needs the dict (then it is hashed now)."""
        self.b_key[i] = <PyObject*>k
        if self.mode != M_DICT and int64_of(k, &self.b_ikey[i]):
            return True
        PyObject_Hash(k)  # an unhashable key fails here, before anything changed
        return False

    cdef int fold_events(self, Py_ssize_t n, bint need_dict, bint update) except -1:
        """Fold the ``n`` buffered events in order; with ``update``, note the slots touched.

        The expiry heap is kept in ``add`` (only a new first session can make a
        key due earlier), so a batch that emits final sessions does not revisit
        the keys it touched.
        """
        cdef Py_ssize_t i, slot
        cdef Slot* k
        cdef int64_t stamp
        self.stamp += 1
        stamp = self.stamp
        self.ntouched = 0
        if need_dict and self.mode != M_DICT:
            self.to_dict_mode()
        elif self.mode == M_NEW and n:
            it_init(&self.table, 32)
            self.mode = M_INT
        for i in range(n):
            if self.mode == M_INT:
                slot = self.int_slot(self.b_ikey[i], self.b_key[i])
            else:
                slot = self.dict_slot(<object>self.b_key[i])
            if update:
                k = &self.slots[slot]
                if k.stamp != stamp:
                    k.stamp = stamp
                    self.touched[self.ntouched] = slot
                    self.ntouched += 1
            self.add(slot, self.b_time[i], self.b_val[i])
        return 0

    cdef list finish(self, object wm_us, bint update, object result):
        """The rows due after a fold: changed sessions (update) and finished ones, dropped."""
        cdef Py_ssize_t i, j, m, slot, nr = 0
        cdef int64_t wm = 0
        cdef Slot* k
        cdef list out = []
        cdef list ordered
        cdef Entry entry
        cdef bint direct = result is not None and _plain_tuple(result)
        if wm_us is not None:
            wm = check_time(wm_us, "watermark")
        for j in range(self.ntouched):  # update mode only
            k = &self.slots[self.touched[j]]
            for i in range(k.n):
                if k.s[i].changed:
                    self.note(nr, &k.s[i], nr)
                    out.append(self.row(self.touched[j], &k.s[i], result, direct))
                    nr += 1
                    k.s[i].changed = 0
        if wm_us is not None:
            # each due key is finished when its entry pops (a key's live entry pops once:
            # a re-pushed one is later than wm); rows of different keys that tie on (start,
            # last) sort by the order the keys were first seen, as the reference emits them
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
                m = 0
                while m < k.n and k.s[m].last + self.gap <= wm:
                    if not update:
                        self.note(nr, &k.s[m], k.seq)
                        out.append(self.row(slot, &k.s[m], result, direct))
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
        # window order (start, last); ties in the order the reference emits them
        sort_orders(self.rows, nr)
        ordered = [None] * nr
        for j in range(nr):
            ordered[j] = out[self.rows[j].i]
        return ordered

    def process(self, keys, times_us, values, wm_us, bint update, result=None) -> list:
        """Apply a batch's events (columns, arrival order); the rows due, finished ones dropped.

        Rows are ``(key, start_us, last_us, value, count)``, or with ``result``
        (a 5-field tuple subclass such as SessionResult) ``result(key, start_s,
        (last + gap)_s, value, count)`` built with no Python call per row.
        Every time is checked before any event is applied.
        """
        cdef list ks = keys if PyList_CheckExact(keys) else list(keys)
        cdef list ts = times_us if PyList_CheckExact(times_us) else list(times_us)
        cdef list vs = values if PyList_CheckExact(values) else list(values)
        cdef Py_ssize_t i, n = len(ks)
        cdef bint need_dict = False
        if not n == len(ts) == len(vs):
            raise ValueError("process: keys, times_us and values differ in length")
        self.begin(n)
        try:
            for i in range(n):
                self.b_time[i] = as_time(ts[i])
                if not self.int_key(ks[i], i):
                    need_dict = True
                self.b_val[i] = <PyObject*>vs[i]
            self.fold_events(n, need_dict, update)
            return self.finish(wm_us, update, result)
        finally:
            self.busy = False

    def process_records(self, records, time, key, value, cutoff, wm_us, bint update,
                        result, convert) -> tuple:
        """``process`` of the records' own fields: ``(rows, late_indexes, max_on_time_us)``.

        ``time`` is a field reference (an int index or a str key), ``key`` and
        ``value`` references or None (key None; value the record itself), read
        in C from tuples, lists and dicts. Times convert as ``convert`` (to_us)
        does; records with a time below ``cutoff`` are late: listed, not folded.
        Any error (a missing field, an odd time, an unhashable key) is raised
        before an event is applied, so the caller can go record by record.
        """
        cdef list recs = records if PyList_CheckExact(records) else list(records)
        cdef Py_ssize_t n = len(recs)
        for field, what in ((time, "time"), (key, "key"), (value, "value")):
            if isinstance(field, list):
                raise ValueError("process_records: time must be a field reference; key and "
                                 "value references or None")
            check_field(field, what)
        if time is None:
            raise ValueError("process_records: time must be a field reference")
        cdef int tk = F_INDEX if isinstance(time, int) else F_KEY
        cdef int kk = F_NONE if key is None else (F_INDEX if isinstance(key, int) else F_KEY)
        cdef int vk = F_RECORD if value is None else (F_INDEX if isinstance(value, int) else F_KEY)
        cdef Py_ssize_t ti = time if tk == F_INDEX else 0
        cdef Py_ssize_t ki = key if kk == F_INDEX else 0
        cdef Py_ssize_t vi = value if vk == F_INDEX else 0
        cdef Py_ssize_t i, m = 0
        cdef object rec, t, k, v, top = None
        cdef list late = []
        cdef list keep = None    # fields of records read through __getitem__: held here
        cdef int64_t c, cut = 0, top_c = 0
        cdef bint any_c = False, need_dict = False
        cdef bint cut_c = int64_of(cutoff, &cut)
        self.begin(n)
        try:
            for i in range(n):
                rec = recs[i]
                t = read_field(rec, tk, ti, time, None, 0)
                k = read_field(rec, kk, ki, key, None, 0)  # read before the lateness check: a
                v = read_field(rec, vk, vi, value, None, 0)  # record missing a field fails
                if time_us(t, &c):
                    if is_late(c, cut_c, cut, cutoff):
                        late.append(i)
                        continue
                    if not -C_LIMIT < c < C_LIMIT:
                        check_time(c)  # raises
                else:
                    t = convert(t)
                    if cutoff is not None and t < cutoff:
                        late.append(i)
                        continue
                    c = check_time(t)
                raise_top(c, &any_c, &top_c)
                self.b_time[m] = c
                if not self.int_key(k, m):
                    need_dict = True
                self.b_val[m] = <PyObject*>v
                if not (PyTuple_Check(rec) or PyList_CheckExact(rec) or PyDict_CheckExact(rec)):
                    if keep is None:
                        keep = []
                    keep.append(k)
                    keep.append(v)
                m += 1
            if any_c:
                top = top_c
            self.fold_events(m, need_dict, update)
            return self.finish(wm_us, update, result), late, top
        finally:
            self.busy = False

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
