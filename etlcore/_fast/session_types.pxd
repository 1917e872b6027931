# cython: language_level=3
# The session kernel's C records, shared by session_table_c (which owns them) and
# session_c (which reads them to emit rows): a key's open sessions and its slot.
# Everything here is a declaration or inline: cimporting needs no module at run time.

from cpython.mem cimport PyMem_Realloc
from libc.stdint cimport int64_t

# key index modes
cdef enum:
    M_NEW = 0   # no key yet
    M_INT = 1   # every key an exact int64: the C table
    M_DICT = 2  # any other key seen: a dict (Python equality)


cdef struct Sess:
    int64_t start
    int64_t last
    int64_t count
    int64_t sid      # key of the aggregate in SessionTable.aggs
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
