# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Keys to dense slots, and each slot's accumulator cell: the storage under ``HashAgg``.

``KeyTable`` is the base class of ``hashagg_c.HashAgg``, which adds the reducer's
folds; window_c, sliding_c and session_table_c reach both through ``HashAgg``. Keys
are indexed by the C table of ``inttable.pxd`` (8-byte cells: a tag of the key or
hash, and the slot; the key or hash itself is ``ikeys[slot]``)
while every key is an exact int64 (held as a C int64, boxed only when emitted:
``key_at``) or every key an exact str (its cached, seeded hash; equal strs
compare by memcmp), and by a dict (``1 == 1.0``) from the first key that breaks
that on. Slots are appended in first-seen order; discarded ones are dead until
``compact`` squeezes them out, keeping the order.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_GET_ITEM
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport PyObject_Hash
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact
from libc.stdint cimport int32_t, int64_t, uint32_t

from etlcore._fast.inttable cimport (
    IT_EMPTY,
    IT_MAX_SLOT,
    IT_TOMB,
    IntTable,
    it_cap_for,
    it_drop_slot,
    it_free,
    it_get,
    it_home,
    it_init,
    it_make_room,
    it_put_new,
    it_rebuild,
    it_setdefault,
    it_tag,
)
from etlcore._fast.values cimport T_DEAD, T_UNSET, str_eq

__all__ = ["KeyTable"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept


cdef inline Py_ssize_t grown(Py_ssize_t cap) noexcept nogil:
    """Slots after ``cap`` fills: 1.5x (2x would leave up to half the slots unused)."""
    return cap + cap // 2 if cap >= 16 else 16


cdef class KeyTable:
    """Keys to dense slots (first-seen order) with one ``Acc`` cell per slot.

    Not useful alone: ``HashAgg`` subclasses it and sets ``fresh_tag``. Kept apart
    so the key index and the reducer's arithmetic can each be read on their own.
    """

    def __cinit__(self):
        self.keys = []
        self.objs = None  # made on the first Python accumulator (put_obj)
        self.mode = M_NEW
        self.fresh_tag = T_UNSET
        it_init(&self.table, 0)

    def __dealloc__(self):
        PyMem_Free(self.accs)
        PyMem_Free(self.ikeys)
        it_free(&self.table)

    # -- key index ------------------------------------------------------------
    # M_INT: the table maps the int64 key to its slot and ikeys[slot] holds the key;
    # no Python int is kept (keys are boxed when emitted: key_at). M_STR: the table
    # maps the str's hash to its slot, ikeys[slot] holds the hash and keys[slot] the
    # str. M_DICT: ``index`` maps key objects to slots, keys[slot] the key.

    @cython.final
    cdef int grow(self, Py_ssize_t cap) except -1:
        """Room for ``cap`` slots in the per-slot C arrays."""
        cdef Acc* accs
        cdef int64_t* ikeys
        if cap <= self.cap:
            return 0
        if cap > <Py_ssize_t>IT_MAX_SLOT + 1:  # the C index's slots are int32
            cap = <Py_ssize_t>IT_MAX_SLOT + 1
            if cap <= self.cap:
                raise OverflowError("KeyTable: more than 2**31 keys")
        accs = <Acc*>PyMem_Realloc(self.accs, cap * sizeof(Acc))
        if accs == NULL:
            raise MemoryError()
        self.accs = accs
        ikeys = <int64_t*>PyMem_Realloc(self.ikeys, cap * sizeof(int64_t))
        if ikeys == NULL:
            raise MemoryError()
        self.ikeys = ikeys
        self.cap = cap
        return 0

    @cython.final
    cdef int reserve(self, Py_ssize_t n) except -1:
        """Room for ``n`` keys before any regrowth (a fresh aggregator only: else no-op)."""
        if self.size or n <= 0:
            return 0
        if it_cap_for(n) > self.table.cap:
            it_rebuild(&self.table, self.ikeys, 1, n)
        self.grow(n)
        return 0

    @cython.final
    cdef object key_at(self, Py_ssize_t s):
        """The key of live slot ``s`` (an int key is boxed here, on the way out)."""
        if self.mode == M_INT:
            return self.ikeys[s]
        return self.keys[s]

    @cython.final
    cdef Py_ssize_t slot_for_int(self, int64_t x) except -1:
        """Find or create the slot of int64 key ``x`` (mode M_NEW or M_INT)."""
        cdef Py_ssize_t s
        if self.size == self.cap:
            self.grow(grown(self.cap))
        self.mode = M_INT
        s = <Py_ssize_t>it_setdefault(&self.table, self.ikeys, 1, x, self.size)
        if s == self.size:
            self.ikeys[s] = x
            self.init_slot(s)
        return s

    @cython.final
    cdef Py_ssize_t str_slot(self, int64_t h, object key, bint create) except -2:
        """Slot of exact str ``key`` (hash ``h``) in M_STR, created if asked, or -1."""
        cdef IntTable* t = &self.table
        cdef Py_ssize_t mask = t.cap - 1
        cdef Py_ssize_t j = it_home(t, h)
        cdef Py_ssize_t tomb = -1
        cdef Py_ssize_t s
        cdef PyObject* held
        cdef uint32_t tag = it_tag(h)
        while True:
            s = <Py_ssize_t>t.cells[j].v
            if s == IT_EMPTY:
                break
            if s == IT_TOMB:
                if tomb < 0:
                    tomb = j
            elif t.cells[j].tag == tag and self.ikeys[s] == h:
                held = PyList_GET_ITEM(self.keys, s)
                if held == <PyObject*>key or str_eq(held, <PyObject*>key):
                    return s
            j = (j + 1) & mask
        if not create:
            return -1
        s = self.size
        if s == self.cap:
            self.grow(grown(self.cap))
        self.keys.append(key)
        self.ikeys[s] = h
        self.init_slot(s)
        if tomb >= 0:
            t.cells[tomb].tag = tag
            t.cells[tomb].v = <int32_t>s
            t.used += 1
        else:
            it_make_room(t, self.ikeys, 1)
            it_put_new(t, h, s)
        return s

    @cython.final
    cdef Py_ssize_t table_slot(self, int64_t k, object key, bint create) except -2:
        """Slot of an int64 key ``k`` (M_INT) or of str ``key`` hashed to ``k`` (M_STR), or -1."""
        if self.mode == M_STR:
            return self.str_slot(k, key, create)
        if create:
            return self.slot_for_int(k)
        if self.mode != M_INT:
            return -1
        return <Py_ssize_t>it_get(&self.table, self.ikeys, 1, k)

    @cython.final
    cdef int to_dict_mode(self) except -1:
        """Switch to the dict index for good: a key of another type may equal one we hold."""
        cdef dict index = {}
        cdef Py_ssize_t s
        if self.mode == M_INT:  # box the keys once: M_DICT keeps key objects
            self.keys = [self.ikeys[s] if self.accs[s].tag != T_DEAD else None
                         for s in range(self.size)]
        for s in range(self.size):
            if self.accs[s].tag != T_DEAD:
                index[self.keys[s]] = s
        self.index = index
        self.mode = M_DICT
        it_free(&self.table)
        return 0

    @cython.final
    cdef int init_slot(self, Py_ssize_t s) except -1:
        """Initialise the new last slot ``s`` for the reducer (the C arrays have room)."""
        cdef Acc* a = &self.accs[s]
        if self.objs is not None:
            self.objs.append(None)
        a.i = 0  # (a.f shares these bytes)
        a.n = 0
        a.r = 0
        a.tag = self.fresh_tag
        self.size += 1
        self.live += 1
        return 0

    @cython.final
    cdef Py_ssize_t slot_for(self, object key) except -1:
        """Find or create the slot of ``key``."""
        cdef int overflow = 0
        cdef long long x
        cdef PyObject* found
        cdef Py_ssize_t s
        cdef int mode = self.mode
        if mode == M_INT or mode == M_NEW:
            if PyLong_CheckExact(key):
                x = PyLong_AsLongLongAndOverflow(key, &overflow)
                if overflow == 0:
                    return self.slot_for_int(x)
        if mode == M_STR or (mode == M_NEW and PyUnicode_CheckExact(key)):
            if PyUnicode_CheckExact(key):
                self.mode = M_STR
                return self.str_slot(PyObject_Hash(key), key, True)
        if mode != M_DICT:
            self.to_dict_mode()
        found = PyDict_GetItemWithError(self.index, key)
        if found != NULL:
            return <Py_ssize_t><object>found
        s = self.size
        if s == self.cap:
            self.grow(grown(self.cap))
        self.keys.append(key)
        self.init_slot(s)
        self.index[key] = s
        return s

    @cython.final
    cdef Py_ssize_t find(self, object key) except -2:
        """Slot of ``key``, or -1."""
        cdef int overflow = 0
        cdef long long x
        cdef PyObject* found
        cdef int mode = self.mode
        if mode == M_NEW:
            return -1
        if mode == M_STR:
            if PyUnicode_CheckExact(key):
                return self.str_slot(PyObject_Hash(key), key, False)
        elif mode == M_INT:
            if PyLong_CheckExact(key):
                x = PyLong_AsLongLongAndOverflow(key, &overflow)
                if overflow == 0:
                    return <Py_ssize_t>it_get(&self.table, self.ikeys, 1, x)
        if mode != M_DICT:
            self.to_dict_mode()
        found = PyDict_GetItemWithError(self.index, key)
        return -1 if found == NULL else <Py_ssize_t><object>found

    @cython.final
    cdef int discard(self, Py_ssize_t s) except -1:
        """Forget the key of slot ``s``; compact once most slots are dead."""
        if self.mode == M_DICT:
            del self.index[self.keys[s]]
        else:  # the cell holding slot s, on the probe path of its key (or hash)
            it_drop_slot(&self.table, self.ikeys[s], s)
        if self.mode != M_INT:
            self.keys[s] = None
        self.put_obj(s, None)
        self.accs[s].tag = T_DEAD
        self.live -= 1
        if self.size >= 64 and self.live * 2 < self.size:
            self.compact()
        return 0

    @cython.final
    cdef int compact(self) except -1:
        """Squeeze out dead slots (keeping key order) and rebuild the index."""
        cdef Py_ssize_t s, j = 0
        cdef bint with_list = self.mode != M_INT
        for s in range(self.size):
            if self.accs[s].tag == T_DEAD:
                continue
            self.accs[j] = self.accs[s]
            self.ikeys[j] = self.ikeys[s]
            if with_list:
                self.keys[j] = self.keys[s]
            if self.objs is not None:
                self.objs[j] = self.objs[s]
            j += 1
        if with_list:
            del self.keys[j:]
        if self.objs is not None:
            del self.objs[j:]
        self.size = j
        if self.mode == M_DICT:
            self.index = {self.keys[s]: s for s in range(self.size)}
        else:
            it_free(&self.table)
            it_init(&self.table, self.size)
            for s in range(self.size):
                it_put_new(&self.table, self.ikeys[s], s)
        return 0

    # -- Python accumulators (a slot's T_OBJ value) -----------------------------------

    @cython.final
    cdef object obj_at(self, Py_ssize_t s):
        """Slot ``s``'s Python accumulator (None when it has none)."""
        return None if self.objs is None else self.objs[s]

    @cython.final
    cdef int put_obj(self, Py_ssize_t s, object o) except -1:
        """Hold ``o`` as slot ``s``'s Python accumulator. The list is made on the first
        one: int and float accumulators (the common case) need no pointer per key."""
        if self.objs is None:
            if o is None:
                return 0
            self.objs = [None] * self.size
        self.objs[s] = o
        return 0
