# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""``IntMap``: the C int64 index of ``inttable.pxd`` as a Python int64 -> int64 map.

Kernels cimport the table itself (``from etlcore._fast.inttable cimport ...``) over
their own slot arrays; this wrapper keeps its keys and values in two arrays of
slots, as a kernel keeps its keys, so the table's probing, tags, growth and deletion
are tested against the plain-dict twin ``inttable_ref`` (hypothesis parity tests in
``tests/fast``).
"""

from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport int64_t

from etlcore._fast.inttable cimport (
    IT_EMPTY,
    IntTable,
    it_cap_for,
    it_free,
    it_get,
    it_init,
    it_pop,
    it_put_new,
    it_setdefault,
)

__all__ = ["IntMap"]


cdef inline int64_t check_index(object v) except -1:
    if v < 0:
        raise ValueError(f"IntMap: an index must be >= 0, not {v}")
    return v


cdef class IntMap:
    """int64 keys -> non-negative int64 indexes (an int beyond int64 raises OverflowError)."""

    cdef IntTable t
    cdef int64_t* ks    # slot -> key
    cdef int64_t* vs    # slot -> value (-1: the slot's key was popped)
    cdef Py_ssize_t n   # slots used, popped ones included
    cdef Py_ssize_t room

    def __cinit__(self, Py_ssize_t size_hint=0):
        it_init(&self.t, size_hint)

    def __dealloc__(self):
        it_free(&self.t)
        PyMem_Free(self.ks)
        PyMem_Free(self.vs)

    cdef int reserve(self, Py_ssize_t room) except -1:
        cdef int64_t* ks
        cdef int64_t* vs
        ks = <int64_t*>PyMem_Realloc(self.ks, room * sizeof(int64_t))
        if ks == NULL:
            raise MemoryError()
        self.ks = ks
        vs = <int64_t*>PyMem_Realloc(self.vs, room * sizeof(int64_t))
        if vs == NULL:
            raise MemoryError()
        self.vs = vs
        self.room = room
        return 0

    cdef Py_ssize_t next_slot(self) except -1:
        """A slot for a new key: popped slots are squeezed out before the arrays grow."""
        if self.n == self.room:
            if self.t.used * 2 <= self.n:
                self.squeeze()
            if self.n == self.room:
                self.reserve(self.room * 2 if self.room >= 8 else 16)
        return self.n

    def __len__(self):
        return self.t.used

    def __contains__(self, int64_t key):
        return it_get(&self.t, self.ks, 1, key) != IT_EMPTY

    def __getitem__(self, int64_t key):
        cdef int64_t s = it_get(&self.t, self.ks, 1, key)
        if s == IT_EMPTY:
            raise KeyError(key)
        return self.vs[s]

    def get(self, int64_t key, default=None):
        cdef int64_t s = it_get(&self.t, self.ks, 1, key)
        return default if s == IT_EMPTY else self.vs[s]

    def __setitem__(self, int64_t key, value):
        cdef int64_t v = check_index(value)
        cdef int64_t s = it_get(&self.t, self.ks, 1, key)
        if s == IT_EMPTY:
            s = self.add(key)
        self.vs[s] = v

    def setdefault(self, int64_t key, value):
        """The index held for ``key``, storing ``value`` first if there is none."""
        cdef int64_t v = check_index(value)
        cdef int64_t s = it_get(&self.t, self.ks, 1, key)
        if s == IT_EMPTY:
            s = self.add(key)
            self.vs[s] = v
        return self.vs[s]

    cdef int64_t add(self, int64_t key) except -1:
        """Store ``key`` (absent) at a new slot."""
        cdef Py_ssize_t s = self.next_slot()
        it_setdefault(&self.t, self.ks, 1, key, s)
        self.ks[s] = key
        self.n += 1
        return s

    def pop(self, int64_t key):
        cdef int64_t s = it_pop(&self.t, self.ks, 1, key)
        if s == IT_EMPTY:
            raise KeyError(key)
        v = self.vs[s]
        self.vs[s] = -1
        return v

    def items(self) -> list:
        """``(key, index)`` pairs, in table order (callers sort)."""
        cdef Py_ssize_t j
        return [(self.ks[self.t.cells[j].v], self.vs[self.t.cells[j].v])
                for j in range(self.t.cap) if self.t.cells[j].v >= 0]

    def compact(self) -> None:
        """Squeeze out popped slots and rebuild without tombstones, sized for the live entries."""
        self.squeeze()

    cdef int squeeze(self) except -1:
        cdef Py_ssize_t s, j = 0
        for s in range(self.n):
            if self.vs[s] >= 0:
                self.ks[j] = self.ks[s]
                self.vs[j] = self.vs[s]
                j += 1
        self.n = j
        it_free(&self.t)
        it_init(&self.t, j)
        for s in range(j):
            it_put_new(&self.t, self.ks[s], s)
        return 0

    @property
    def capacity(self) -> int:
        """Cells allocated (8 bytes each)."""
        return self.t.cap
