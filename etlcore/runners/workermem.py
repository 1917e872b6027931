"""A worker keeps the memory a task freed for the next task, instead of returning it.

A worker's heap empties after every task, so pymalloc unmapped the task's arenas and
glibc its big blocks, and the next task faulted every page in again. Workers only:
the driver is the user's process and keeps the allocator's defaults.
"""

from __future__ import annotations

import ctypes
from importlib import import_module

ARENA_CACHE = 64  # freed pymalloc arenas (1 MiB each) a worker keeps mapped
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_arenas() -> None:
    """Keep up to ``ARENA_CACHE`` freed arenas mapped in this worker for the next task.

    A worker's heap empties after every task, so pymalloc unmapped the task's arenas
    (and glibc its big blocks, see :func:`keep_heap`) and the next task faulted every
    page in again: a W1 task of 50,000 lines took ~8,100 minor faults and 56 ms of CPU
    on a worker, ~630 faults and 43 ms with both kept (the driver: ~2,000 faults).
    An older build without the extension runs as before, and so does
    ``ETLCORE_PURE_PYTHON=1`` (its twin ``arenas_ref`` cannot cache anything).
    """
    keep_heap()
    from etlcore import _fast

    try:
        arenas = import_module("etlcore._fast.arenas_" + ("c" if _fast.COMPILED else "ref"))
    except ImportError:
        return
    arenas.install(ARENA_CACHE)


def keep_heap() -> None:
    """glibc: serve big blocks (a task's record lists, read buffers) from the heap and keep
    up to 64 MiB of freed heap, instead of mapping and unmapping them every task."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)
