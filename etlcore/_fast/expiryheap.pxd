# cython: language_level=3
# The session kernel's expiry queue: a binary min-heap of ``(when, slot)`` in C,
# ``when`` being a key's first session's ``last + gap``. session_table_c keeps at
# most one live entry per key and re-checks an entry when it pops, so a batch does
# no heap work for the keys it merely extends. Inline only: no module at run time.

from cpython.mem cimport PyMem_Free
from libc.stdint cimport int64_t

from etlcore._fast.session_types cimport grow


cdef struct Entry:
    int64_t when     # the slot's first session's last + gap, when pushed
    Py_ssize_t slot


cdef struct ExpiryHeap:
    Entry* e
    Py_ssize_t n
    Py_ssize_t cap


cdef inline int eh_push(ExpiryHeap* h, int64_t when, Py_ssize_t slot) except -1:
    """Queue ``slot`` to be checked once the watermark reaches ``when``."""
    cdef Py_ssize_t i, parent
    if h.n == h.cap:
        h.e = <Entry*>grow(h.e, &h.cap, h.n + 1, sizeof(Entry))
    i = h.n
    h.n += 1
    while i > 0:
        parent = (i - 1) >> 1
        if h.e[parent].when <= when:
            break
        h.e[i] = h.e[parent]
        i = parent
    h.e[i].when = when
    h.e[i].slot = slot
    return 0


cdef inline Entry eh_pop(ExpiryHeap* h) noexcept:
    """The earliest entry, removed (the heap must not be empty)."""
    cdef Entry top = h.e[0]
    cdef Entry last
    cdef Py_ssize_t i = 0, child, n
    h.n -= 1
    n = h.n
    if n == 0:
        return top
    last = h.e[n]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and h.e[child + 1].when < h.e[child].when:
            child += 1
        if h.e[child].when >= last.when:
            break
        h.e[i] = h.e[child]
        i = child
    h.e[i] = last
    return top


cdef inline void eh_free(ExpiryHeap* h) noexcept:
    PyMem_Free(h.e)
    h.e = NULL
    h.n = 0
    h.cap = 0
