# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Line scan in one pass over a text block, eight bytes at a time, without the GIL.

``bytes.count``, ``in`` and ``isascii`` are three passes (0.09 s per 128 MB, the
count alone 0.06 s); this is one (~0.015 s), and the upload threads hash the
previous block meanwhile. ``lines_ref`` is the specification.
"""

from libc.stdint cimport uint64_t
from libc.string cimport memcpy

__all__ = ["scan_lines"]

cdef uint64_t LOW7 = 0x7F7F7F7F7F7F7F7FULL
cdef uint64_t HIGH = 0x8080808080808080ULL
cdef uint64_t LF = 0x0A0A0A0A0A0A0A0AULL
cdef uint64_t CR = 0x0D0D0D0D0D0D0D0DULL
cdef uint64_t ONES = 0x0101010101010101ULL
cdef uint64_t EVEN = 0x00FF00FF00FF00FFULL


cdef inline uint64_t zero_bytes(uint64_t w) noexcept nogil:
    """The high bit of each byte of ``w`` that is 0 (exact, no borrow across bytes)."""
    return ~(((w & LOW7) + LOW7) | w | LOW7)


cdef inline long long byte_sum(uint64_t acc) noexcept nogil:
    """The sum of the eight bytes of ``acc``."""
    acc = (acc & EVEN) + ((acc >> 8) & EVEN)  # four 16-bit sums, each <= 510
    return <long long>((acc * 0x0001000100010001ULL) >> 48)


def scan_lines(const unsigned char[:] data not None):
    """``(line feeds, holds a carriage return, all ASCII)`` of ``data``."""
    cdef Py_ssize_t n = data.shape[0], i = 0
    cdef long long lines = 0
    cdef Py_ssize_t stop
    cdef uint64_t w, acc, cr = 0, high = 0
    cdef const unsigned char* p
    if n == 0:
        return 0, False, True
    p = &data[0]
    with nogil:
        while i + 8 <= n:
            acc = 0  # per byte: line feeds seen there, at most 255 words at a time
            stop = min(n - 7, i + 8 * 255)
            while i < stop:
                memcpy(&w, p + i, 8)
                high |= w
                acc += zero_bytes(w ^ LF) >> 7
                cr |= zero_bytes(w ^ CR)
                i += 8
            lines += byte_sum(acc)
        while i < n:
            lines += p[i] == 10
            cr |= p[i] == 13
            high |= p[i]
            i += 1
    return lines, cr != 0, (high & HIGH) == 0
