# cython: language_level=3
# Event times in C: integer microseconds from exact floats and ints, as
# ``eventtime.base.to_us`` computes them, for kernels that read time fields
# themselves (session_c, window_c).

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from libc.math cimport isfinite, rint
from libc.stdint cimport int64_t

cdef enum:
    US_PER_S = 1000000


cdef inline bint time_us(object t, int64_t* out) noexcept:
    """``round(t * US)`` in C for an exact, finite float or int of moderate size.

    False means "not computed here": the caller uses the careful conversion.
    """
    cdef double x
    cdef long long i
    cdef int overflow = 0
    # below these magnitudes seconds * US, and its rounding, are exact in int64
    cdef long long max_int_s = 9000000000000
    cdef double max_float_us = 9.0e18
    if PyFloat_CheckExact(t):
        x = PyFloat_AS_DOUBLE(t)
        if isfinite(x):
            x = rint(x * <double>US_PER_S)  # round(): the default rounding mode is half-even
            if -max_float_us < x < max_float_us:
                out[0] = <int64_t>x
                return True
    elif PyLong_CheckExact(t):
        i = PyLong_AsLongLongAndOverflow(t, &overflow)
        if not overflow and -max_int_s < i < max_int_s:
            out[0] = i * US_PER_S
            return True
    return False


cdef inline bint int64_of(object x, int64_t* out) noexcept:
    """Whether ``x`` is an exact int that fits int64 (stored in ``out``)."""
    cdef int overflow = 0
    if x is None or not PyLong_CheckExact(x):
        return False
    out[0] = PyLong_AsLongLongAndOverflow(x, &overflow)
    return not overflow


cdef inline bint is_late(int64_t c, bint cut_c, int64_t cut, object cutoff) except -1:
    """Whether a record at ``c`` us is before the watermark's cutoff: in C when the
    cutoff is an int64 (``cut_c``: it is ``cut``), else against the object itself."""
    if cut_c:
        return c < cut
    return cutoff is not None and c < cutoff


cdef inline void raise_top(int64_t c, bint* any_c, int64_t* top_c) noexcept:
    """Keep the greatest event time a kernel has read (``any_c``: one was read)."""
    if not any_c[0] or c > top_c[0]:
        top_c[0] = c
        any_c[0] = True
