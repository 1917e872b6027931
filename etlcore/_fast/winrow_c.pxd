# cython: language_level=3
# The compact window row (winrow_c.pyx), cimported by window_c to build rows in C.

cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

from etlcore._fast.hashagg_c cimport HashAgg


@cython.final
cdef class WindowRow:
    # key: an exact int that fits int64 is kept in ikey (kobj NULL), any other key as kobj;
    # value: an exact float is kept in fval (vobj NULL), an exact int that fits int64 in
    # fval's bits (vobj the int type, no reference held), any other value as vobj.
    # 16 B header + 6 words = 64 B, one pymalloc block, no GC header.
    cdef PyObject* kobj
    cdef PyObject* vobj
    cdef int64_t ikey
    cdef double fval
    cdef double start
    cdef double end


cdef tuple as_tuple(WindowRow row)
cdef WindowRow row_of(object key, double start, double end, object value)
cdef WindowRow int_row(int64_t key, double start, double end, int tag, int64_t i, double f)
cdef object compact_rows(HashAgg agg, object into, double start, double end)
