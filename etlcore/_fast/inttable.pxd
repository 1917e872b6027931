# cython: language_level=3
# An int64 -> int64 open-addressing table with 16-byte cells, for kernels to cimport
# (HashAgg's key index; meant for the session kernel's per-key table too).
#
# Cells hold the key and an index (into the caller's own arrays), so a key costs
# no Python object while it is held: callers box keys only when they emit them.
# Keys are spread by Fibonacci hashing (the top bits of k * 2**64/phi), probed
# linearly; a table is rebuilt at 3/4 full (tombstones included) to at most 1/2
# live. Everything here is inline: cimporting needs no module at run time.
# ``etlcore._fast.inttable_c.IntMap`` wraps it for tests (twin: ``inttable_ref``).

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint64_t

cdef extern from *:
    """
    #define ETL_IT_FIB64 0x9E3779B97F4A7C15ULL
    """
    uint64_t ETL_IT_FIB64  # 2**64 / golden ratio

cdef enum:
    IT_EMPTY = -1   # a cell never used (ends a probe)
    IT_TOMB = -2    # a deleted entry (a probe goes on past it)
    IT_MIN = 16     # smallest table


cdef struct ICell:
    int64_t k   # the key (or a hash, for callers that compare keys themselves)
    int64_t v   # the index stored, >= 0; or IT_EMPTY / IT_TOMB


cdef struct IntTable:
    ICell* cells
    Py_ssize_t cap    # cells, a power of two
    Py_ssize_t fill   # cells not empty (live and tombstones)
    Py_ssize_t used   # live entries
    int shift         # 64 - log2(cap)


cdef inline Py_ssize_t it_cap_for(Py_ssize_t n) noexcept nogil:
    """Cells for ``n`` live entries at a load of at most 1/2."""
    cdef Py_ssize_t cap = IT_MIN
    while cap < n * 2:
        cap *= 2
    return cap


cdef inline int it_alloc(IntTable* t, Py_ssize_t cap) except -1:
    """Point ``t`` at a fresh empty table of ``cap`` cells (the old cells are not freed)."""
    cdef ICell* cells = <ICell*>PyMem_Malloc(cap * sizeof(ICell))
    cdef Py_ssize_t j
    cdef int bits = 0
    if cells == NULL:
        raise MemoryError()
    for j in range(cap):
        cells[j].v = IT_EMPTY
    while (<Py_ssize_t>1 << bits) < cap:
        bits += 1
    t.cells = cells
    t.cap = cap
    t.fill = 0
    t.used = 0
    t.shift = 64 - bits
    return 0


cdef inline int it_init(IntTable* t, Py_ssize_t n) except -1:
    """A new empty table with room for ``n`` entries (``t`` holds no cells yet)."""
    t.cells = NULL
    return it_alloc(t, it_cap_for(n))


cdef inline void it_free(IntTable* t) noexcept:
    PyMem_Free(t.cells)
    t.cells = NULL
    t.cap = t.fill = t.used = 0


cdef inline Py_ssize_t it_home(IntTable* t, int64_t k) noexcept nogil:
    """The first cell to probe for ``k``."""
    return <Py_ssize_t>((<uint64_t>k * ETL_IT_FIB64) >> t.shift)


cdef inline void it_put_new(IntTable* t, int64_t k, int64_t v) noexcept nogil:
    """Insert a key known to be absent, with room known to be there (rebuilds)."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    while t.cells[j].v != IT_EMPTY:
        j = (j + 1) & mask
    t.cells[j].k = k
    t.cells[j].v = v
    t.fill += 1
    t.used += 1


cdef inline int it_rebuild(IntTable* t, Py_ssize_t n) except -1:
    """Re-lay the live entries into a table sized for ``n`` of them (drops tombstones)."""
    cdef IntTable fresh
    cdef Py_ssize_t j
    if n < t.used:
        n = t.used
    fresh.cells = NULL
    it_alloc(&fresh, it_cap_for(n))
    for j in range(t.cap):
        if t.cells[j].v >= 0:
            it_put_new(&fresh, t.cells[j].k, t.cells[j].v)
    PyMem_Free(t.cells)
    t[0] = fresh
    return 0


cdef inline int it_make_room(IntTable* t) except -1:
    """Rebuild before an insert would fill more than 3/4 of the cells."""
    if (t.fill + 1) * 4 > t.cap * 3:
        it_rebuild(t, t.used + 1)
    return 0


cdef inline int64_t it_get(IntTable* t, int64_t k) noexcept nogil:
    """The index stored for ``k``, or IT_EMPTY."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    cdef ICell* c
    while True:
        c = &t.cells[j]
        if c.v == IT_EMPTY:
            return IT_EMPTY
        if c.k == k and c.v >= 0:
            return c.v
        j = (j + 1) & mask


cdef inline int64_t it_setdefault(IntTable* t, int64_t k, int64_t v) except -2:
    """The index stored for ``k``; if none, store ``v`` (>= 0) and return it."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    cdef Py_ssize_t tomb = -1
    cdef ICell* c
    while True:
        c = &t.cells[j]
        if c.v == IT_EMPTY:
            break
        if c.v == IT_TOMB:
            if tomb < 0:
                tomb = j
        elif c.k == k:
            return c.v
        j = (j + 1) & mask
    if tomb >= 0:  # reuse the first tombstone passed: fill does not grow
        t.cells[tomb].k = k
        t.cells[tomb].v = v
        t.used += 1
        return v
    if (t.fill + 1) * 4 > t.cap * 3:
        it_rebuild(t, t.used + 1)
        it_put_new(t, k, v)
        return v
    c.k = k
    c.v = v
    t.fill += 1
    t.used += 1
    return v


cdef inline int it_set(IntTable* t, int64_t k, int64_t v) except -1:
    """Store ``v`` (>= 0) for ``k``, replacing any index it had."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    while t.cells[j].v != IT_EMPTY:
        if t.cells[j].v >= 0 and t.cells[j].k == k:
            t.cells[j].v = v
            return 0
        j = (j + 1) & mask
    it_setdefault(t, k, v)
    return 0


cdef inline int64_t it_pop(IntTable* t, int64_t k) noexcept nogil:
    """Remove ``k``; the index it had, or IT_EMPTY if absent."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    cdef int64_t v
    while t.cells[j].v != IT_EMPTY:
        if t.cells[j].v >= 0 and t.cells[j].k == k:
            v = t.cells[j].v
            t.cells[j].v = IT_TOMB
            t.used -= 1
            return v
        j = (j + 1) & mask
    return IT_EMPTY
