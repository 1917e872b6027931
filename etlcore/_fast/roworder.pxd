# cython: language_level=3
# The order session rows are emitted in: window ``(start, last)``, then a tie-breaker
# that differs between any two rows of one batch (the key's first-seen order for final
# rows, the emit position for updates), so replays emit identical batches.
# session_c notes one Order per row and sorts them here. Inline only: no module at run time.

from libc.stdint cimport int64_t


cdef struct Order:
    int64_t a        # a row's start
    int64_t b        # its last event
    int64_t tie      # then: final rows, the key's seq; update rows, the position emitted
    Py_ssize_t i     # position emitted


cdef inline bint before(const Order* p, const Order* q) noexcept nogil:
    """(a, b, tie) ascending; ``tie`` differs between any two rows of one batch."""
    if p.a != q.a:
        return p.a < q.a
    if p.b != q.b:
        return p.b < q.b
    return p.tie < q.tie


cdef inline void sort_orders(Order* x, Py_ssize_t n) noexcept nogil:
    """Sort by ``before``: quicksort (median of three) down to runs of 16, then insertion.

    The comparison is inlined (qsort's call per comparison was 8% of W4).
    Keys are unique (``tie`` differs), so no equal-key care is needed.
    """
    cdef Py_ssize_t lo = 0, hi, i, j, mid, top = 0
    cdef Py_ssize_t stack[128]
    cdef Order pivot, tmp
    if n < 2:
        return
    stack[0] = 0
    stack[1] = n - 1
    top = 2
    while top:
        top -= 2
        lo = stack[top]
        hi = stack[top + 1]
        while hi - lo > 16:
            mid = lo + (hi - lo) // 2
            if before(&x[mid], &x[lo]):
                tmp = x[mid]; x[mid] = x[lo]; x[lo] = tmp
            if before(&x[hi], &x[lo]):
                tmp = x[hi]; x[hi] = x[lo]; x[lo] = tmp
            if before(&x[hi], &x[mid]):
                tmp = x[hi]; x[hi] = x[mid]; x[mid] = tmp
            pivot = x[mid]
            i = lo
            j = hi
            while i <= j:
                while before(&x[i], &pivot):
                    i += 1
                while before(&pivot, &x[j]):
                    j -= 1
                if i <= j:
                    tmp = x[i]; x[i] = x[j]; x[j] = tmp
                    i += 1
                    j -= 1
            # the larger side goes on the stack, the smaller is sorted next: depth <= log2(n)
            if j - lo < hi - i:
                if i < hi:
                    stack[top] = i
                    stack[top + 1] = hi
                    top += 2
                hi = j
            else:
                if lo < j:
                    stack[top] = lo
                    stack[top + 1] = j
                    top += 2
                lo = i
        for i in range(lo + 1, hi + 1):
            tmp = x[i]
            j = i - 1
            while j >= lo and before(&tmp, &x[j]):
                x[j + 1] = x[j]
                j -= 1
            x[j + 1] = tmp

