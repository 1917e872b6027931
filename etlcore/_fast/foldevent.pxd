# cython: language_level=3
# One on-time record of window_c's fold_records, read and checked, waiting to be folded:
# 32 B, so a 50,000-record batch's buffer is 1.6 MB, not the 3.2 MB a full ``Val`` made
# it (it streams through the cache beside the pane tables twice, written then folded).

from cpython.ref cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint8_t

from etlcore._fast.hashagg_c cimport T_FLOAT, T_INT, T_OBJ, Val


cdef union EvKey:
    int64_t i         # an exact int key that fits int64
    PyObject* o       # any other key, borrowed (from the record, or held)

cdef union EvVal:
    int64_t i         # vtag T_INT
    double f          # vtag T_FLOAT
    PyObject* o       # vtag T_OBJ (every value of a callable reducer), borrowed likewise

cdef struct Ev:
    int64_t pane      # pane number (big: index into the list of panes beyond int64)
    EvKey key         # .o when boxed, else .i
    EvVal v           # the value, classified (T_UNSET: None, nothing stored)
    int32_t vtag      # the value's Val tag
    uint8_t big
    uint8_t boxed


cdef inline void ev_val(Ev* e, Val* v) noexcept nogil:
    """The event's value as the ``Val`` the accumulators take."""
    v.tag = e.vtag
    if e.vtag == T_FLOAT:
        v.f = e.v.f
    elif e.vtag == T_INT:
        v.i = e.v.i
    elif e.vtag == T_OBJ:
        v.o = e.v.o
