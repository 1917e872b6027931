# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""``IntMap``: the C int64 -> index table of ``inttable.pxd`` as a Python object.

Kernels cimport the table itself (``from etlcore._fast.inttable cimport ...``);
this wrapper exists so its probing, growth and deletion are tested against the
plain-dict twin ``inttable_ref`` (hypothesis parity tests in ``tests/fast``).
"""

from libc.stdint cimport int64_t

from etlcore._fast.inttable cimport (
    IT_EMPTY,
    IntTable,
    it_free,
    it_get,
    it_init,
    it_pop,
    it_rebuild,
    it_set,
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

    def __cinit__(self, Py_ssize_t size_hint=0):
        it_init(&self.t, size_hint)

    def __dealloc__(self):
        it_free(&self.t)

    def __len__(self):
        return self.t.used

    def __contains__(self, int64_t key):
        return it_get(&self.t, key) != IT_EMPTY

    def __getitem__(self, int64_t key):
        cdef int64_t v = it_get(&self.t, key)
        if v == IT_EMPTY:
            raise KeyError(key)
        return v

    def get(self, int64_t key, default=None):
        cdef int64_t v = it_get(&self.t, key)
        return default if v == IT_EMPTY else v

    def __setitem__(self, int64_t key, value):
        it_set(&self.t, key, check_index(value))

    def setdefault(self, int64_t key, value):
        """The index held for ``key``, storing ``value`` first if there is none."""
        return it_setdefault(&self.t, key, check_index(value))

    def pop(self, int64_t key):
        cdef int64_t v = it_pop(&self.t, key)
        if v == IT_EMPTY:
            raise KeyError(key)
        return v

    def items(self) -> list:
        """``(key, index)`` pairs, in table order (callers sort)."""
        cdef Py_ssize_t j
        return [(self.t.cells[j].k, self.t.cells[j].v)
                for j in range(self.t.cap) if self.t.cells[j].v >= 0]

    def compact(self) -> None:
        """Rebuild without tombstones, sized for the live entries."""
        it_rebuild(&self.t, self.t.used)

    @property
    def capacity(self) -> int:
        """Cells allocated (16 bytes each)."""
        return self.t.cap
