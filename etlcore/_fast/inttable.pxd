# cython: language_level=3
# An index of int64 keys to the slots of the caller's arrays: open addressing with
# 8-byte cells, for kernels to cimport (HashAgg's key index, the session table's).
#
# A cell holds a 32-bit tag of the key's hash and the slot (< 2**31) where the caller
# keeps the key itself (``keys[slot * stride]``: an int64 array, or an int64 field of
# an array of structs), so the table is half the bytes of one holding the keys: at a
# million keys a window pane's table and its reset are 2 MiB, not 4, and a probe's
# cache line holds eight cells. A tag that matches is confirmed against the caller's
# key; a cell whose tag differs is passed without reading it. Keys are spread by
# Fibonacci hashing (the top bits of k * 2**64/phi; the tag is the low 32 bits),
# probed linearly; a table is rebuilt at 3/4 full (tombstones included) to at most 1/2
# live. Every function taking ``keys`` reads the slots' keys there: the caller passes
# its array as it is now (after any realloc). Everything here is inline: cimporting
# needs no module at run time. ``etlcore._fast.inttable_c.IntMap`` wraps it for tests
# (twin: ``inttable_ref``).

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memset

cdef extern from *:
    """
    #define ETL_IT_FIB64 0x9E3779B97F4A7C15ULL
    """
    uint64_t ETL_IT_FIB64  # 2**64 / golden ratio

cdef enum:
    IT_EMPTY = -1   # a cell never used (ends a probe)
    IT_TOMB = -2    # a deleted entry (a probe goes on past it)
    IT_MIN = 16     # smallest table

cdef enum:
    IT_MAX_SLOT = 0x7FFFFFFF  # slots are int32 (a table of 2**31 keys would be 64 GiB of sums)


cdef struct ICell:
    uint32_t tag  # the low 32 bits of the key's hash (it_hash)
    int32_t v     # the slot stored, >= 0; or IT_EMPTY / IT_TOMB


cdef struct IntTable:
    ICell* cells
    Py_ssize_t cap    # cells, a power of two
    Py_ssize_t fill   # cells not empty (live and tombstones)
    Py_ssize_t used   # live entries
    int shift         # 64 - log2(cap)


cdef inline uint64_t it_hash(int64_t k) noexcept nogil:
    """The key spread over 64 bits: its top bits pick the home cell, its low 32 the tag."""
    return <uint64_t>k * ETL_IT_FIB64


cdef inline uint32_t it_tag(int64_t k) noexcept nogil:
    return <uint32_t>it_hash(k)


cdef inline Py_ssize_t it_cap_for(Py_ssize_t n) noexcept nogil:
    """Cells for ``n`` live entries at a load of at most 1/2."""
    cdef Py_ssize_t cap = IT_MIN
    while cap < n * 2:
        cap *= 2
    return cap


cdef inline int it_alloc(IntTable* t, Py_ssize_t cap) except -1:
    """Point ``t`` at a fresh empty table of ``cap`` cells (the old cells are not freed)."""
    cdef ICell* cells = <ICell*>PyMem_Malloc(cap * sizeof(ICell))
    cdef int bits = 0
    if cells == NULL:
        raise MemoryError()
    memset(cells, 0xFF, cap * sizeof(ICell))  # every v IT_EMPTY (-1)
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


cdef inline void it_clear(IntTable* t) noexcept nogil:
    """Forget every entry, keeping the cells (one sweep: they are then in cache)."""
    memset(t.cells, 0xFF, t.cap * sizeof(ICell))
    t.fill = 0
    t.used = 0


cdef inline Py_ssize_t it_home(IntTable* t, int64_t k) noexcept nogil:
    """The first cell to probe for ``k``."""
    return <Py_ssize_t>(it_hash(k) >> t.shift)


cdef inline int it_check_slot(int64_t v) except -1:
    if not 0 <= v <= IT_MAX_SLOT:
        raise OverflowError(f"inttable: slot {v} is not in 0..2**31-1")
    return 0


cdef inline void it_put_new(IntTable* t, int64_t k, int64_t v) noexcept nogil:
    """Insert key ``k`` at slot ``v`` (0..IT_MAX_SLOT), known to be absent, with room
    known to be there (rebuilds)."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    while t.cells[j].v != IT_EMPTY:
        j = (j + 1) & mask
    t.cells[j].tag = it_tag(k)
    t.cells[j].v = <int32_t>v
    t.fill += 1
    t.used += 1


cdef inline int it_rebuild(IntTable* t, const int64_t* keys, Py_ssize_t stride,
                           Py_ssize_t n) except -1:
    """Re-lay the live entries into a table sized for ``n`` of them (drops tombstones)."""
    cdef IntTable fresh
    cdef Py_ssize_t j
    cdef int32_t s
    if n < t.used:
        n = t.used
    fresh.cells = NULL
    it_alloc(&fresh, it_cap_for(n))
    for j in range(t.cap):
        s = t.cells[j].v
        if s >= 0:
            it_put_new(&fresh, keys[s * stride], s)
    PyMem_Free(t.cells)
    t[0] = fresh
    return 0


cdef inline int it_make_room(IntTable* t, const int64_t* keys, Py_ssize_t stride) except -1:
    """Rebuild before an insert would fill more than 3/4 of the cells."""
    if (t.fill + 1) * 4 > t.cap * 3:
        it_rebuild(t, keys, stride, t.used + 1)
    return 0


cdef inline int64_t it_get(IntTable* t, const int64_t* keys, Py_ssize_t stride,
                           int64_t k) noexcept nogil:
    """The slot stored for ``k``, or IT_EMPTY."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    cdef uint32_t tag = it_tag(k)
    cdef ICell* c
    while True:
        c = &t.cells[j]
        if c.v == IT_EMPTY:
            return IT_EMPTY
        if c.tag == tag and c.v >= 0 and keys[c.v * stride] == k:
            return c.v
        j = (j + 1) & mask


cdef inline int64_t it_setdefault(IntTable* t, const int64_t* keys, Py_ssize_t stride,
                                  int64_t k, int64_t v) except -2:
    """The slot stored for ``k``; if none, store ``v`` (0..IT_MAX_SLOT) and return it.
    The caller writes ``k`` at slot ``v`` of its keys (it is not read here)."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    cdef Py_ssize_t tomb = -1
    cdef uint32_t tag = it_tag(k)
    cdef ICell* c
    while True:
        c = &t.cells[j]
        if c.v == IT_EMPTY:
            break
        if c.v == IT_TOMB:
            if tomb < 0:
                tomb = j
        elif c.tag == tag and keys[c.v * stride] == k:
            return c.v
        j = (j + 1) & mask
    it_check_slot(v)
    if tomb >= 0:  # reuse the first tombstone passed: fill does not grow
        t.cells[tomb].tag = tag
        t.cells[tomb].v = <int32_t>v
        t.used += 1
        return v
    if (t.fill + 1) * 4 > t.cap * 3:
        it_rebuild(t, keys, stride, t.used + 1)
        it_put_new(t, k, v)
        return v
    c.tag = tag
    c.v = <int32_t>v
    t.fill += 1
    t.used += 1
    return v


cdef inline bint it_drop_slot(IntTable* t, int64_t k, int64_t s) noexcept nogil:
    """Remove the entry of slot ``s``, whose key is ``k``; whether it was there."""
    cdef Py_ssize_t mask = t.cap - 1
    cdef Py_ssize_t j = it_home(t, k)
    while t.cells[j].v != IT_EMPTY:
        if t.cells[j].v == s:
            t.cells[j].v = IT_TOMB
            t.used -= 1
            return True
        j = (j + 1) & mask
    return False


cdef inline int64_t it_pop(IntTable* t, const int64_t* keys, Py_ssize_t stride,
                           int64_t k) noexcept nogil:
    """Remove ``k``; the slot it had, or IT_EMPTY if absent."""
    cdef int64_t s = it_get(t, keys, stride, k)
    if s >= 0:
        it_drop_slot(t, k, s)
    return s
