# cython: language_level=3
"""Keep pymalloc's freed arenas mapped for reuse, in processes whose heap empties every task.

CPython's small-object allocator takes memory from the OS in arenas (1 MiB in
3.10+) and unmaps an arena as soon as its last object dies. A worker process
holds almost nothing between tasks, so every task's objects land in arenas
mapped afresh, and the kernel faults each 4 KiB page in again: a W1 task of
50,000 lines took ~7,500 minor faults on a worker against ~2,000 on the driver,
whose long-lived heap keeps its arenas. :func:`install` wraps the arena
allocator with a cache of up to ``limit`` freed arenas, handed back before new
ones are mapped. Arenas beyond the cache are unmapped as before. The allocator
runs under the GIL, like all of pymalloc.
"""

from libc.stddef cimport size_t


cdef extern from "Python.h":
    ctypedef struct PyObjectArenaAllocator:
        void *ctx
        void *(*alloc)(void *ctx, size_t size) noexcept nogil
        void (*free)(void *ctx, void *ptr, size_t size) noexcept nogil

    void PyObject_GetArenaAllocator(PyObjectArenaAllocator *allocator)
    void PyObject_SetArenaAllocator(PyObjectArenaAllocator *allocator)


DEF MAX_CACHED = 4096

cdef PyObjectArenaAllocator _base
cdef bint _installed = False
cdef void *_cache[MAX_CACHED]
cdef size_t _sizes[MAX_CACHED]
cdef Py_ssize_t _count = 0
cdef Py_ssize_t _limit = 0
cdef Py_ssize_t _reused = 0


cdef void *_alloc(void *ctx, size_t size) noexcept nogil:
    global _count, _reused
    cdef Py_ssize_t i = _count - 1
    while i >= 0:
        if _sizes[i] == size:
            ptr = _cache[i]
            _count -= 1
            _cache[i] = _cache[_count]
            _sizes[i] = _sizes[_count]
            _reused += 1
            return ptr
        i -= 1
    return _base.alloc(_base.ctx, size)


cdef void _free(void *ctx, void *ptr, size_t size) noexcept nogil:
    global _count
    if ptr != NULL and _count < _limit:
        _cache[_count] = ptr
        _sizes[_count] = size
        _count += 1
        return
    _base.free(_base.ctx, ptr, size)


def install(Py_ssize_t limit) -> bool:
    """Cache up to ``limit`` freed arenas (a process-wide setting; once installed, only the
    limit changes). False when ``limit`` < 1 and nothing was installed."""
    global _installed, _limit, _count
    cdef PyObjectArenaAllocator mine
    if limit > MAX_CACHED:
        limit = MAX_CACHED
    if limit < 0:
        limit = 0
    _limit = limit
    while _count > _limit:  # a lower limit: give the surplus back now
        _count -= 1
        _base.free(_base.ctx, _cache[_count], _sizes[_count])
    if _installed or limit == 0:
        return _installed
    PyObject_GetArenaAllocator(&_base)
    mine.ctx = NULL
    mine.alloc = _alloc
    mine.free = _free
    PyObject_SetArenaAllocator(&mine)
    _installed = True
    return True


def stats() -> tuple[int, int, int]:
    """(arenas cached now, the limit, arenas handed back from the cache so far)."""
    return _count, _limit, _reused
