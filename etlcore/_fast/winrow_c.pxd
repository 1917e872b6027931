# cython: language_level=3
# The compact window row (winrow_c.pyx), cimported by window_c to build rows in C.

cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

from etlcore._fast.hashagg_c cimport HashAgg


@cython.final
cdef class Span:
    # A window's bounds, one object shared by every row of that window.
    cdef readonly double start
    cdef readonly double end


@cython.final
cdef class WindowRow:
    # key: an exact int that fits int64 is kept in kbits, any other key held, its address in
    # kbits (kind & K_OBJ); value: an exact float's bits (V_FLOAT), an exact int that fits
    # int64 (V_INT) or a held object's address (V_OBJ) in vbits; the bounds a held Span.
    # 16 B header + 3 words + the kind byte = 48 B, one pymalloc block, no GC header.
    cdef int64_t kbits
    cdef int64_t vbits
    cdef PyObject* span
    cdef unsigned char kind


cdef tuple as_tuple(WindowRow row)
cdef Span span_of(double start, double end)
cdef WindowRow row_of(object key, Span span, object value)
cdef WindowRow int_row(int64_t key, Span span, int tag, int64_t i, double f)
cdef object compact_rows(HashAgg agg, object into, double start, double end)
