"""A worker keeps the memory a task freed for the next task, instead of returning it.

A worker's heap empties after every task, so pymalloc unmapped the task's arenas and
glibc its big blocks, and the next task faulted every page in again. Workers always;
the driver is the user's process and keeps the allocator's defaults unless the job asks
(``StreamingContext(keep_memory=...)``, :func:`driver_keep_memory`).
"""

from __future__ import annotations

import ctypes
from importlib import import_module

ARENA_CACHE = 64  # freed pymalloc arenas (1 MiB each) a worker keeps mapped
DRIVER_ARENA_CACHE = 1024  # keep_memory=True: what W2 at 1M keys reuses (benchmarks/README)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_INT_MAX = (1 << 31) - 1  # mallopt's value is a C int


def keep_arenas(limit: int = ARENA_CACHE) -> None:
    """Keep up to ``limit`` freed arenas mapped in this worker for the next task.

    A worker's heap empties after every task, so pymalloc unmapped the task's arenas
    (and glibc its big blocks, see :func:`keep_heap`) and the next task faulted every
    page in again: a W1 task of 50,000 lines took ~8,100 minor faults and 56 ms of CPU
    on a worker, ~630 faults and 43 ms with both kept (the driver: ~2,000 faults).
    An older build without the extension runs as before, and so does
    ``ETLCORE_PURE_PYTHON=1`` (its twin ``arenas_ref`` cannot cache anything).
    glibc keeps as many MiB of freed heap as ``limit`` says arenas (1 MiB each).
    """
    keep_heap(limit)
    from etlcore import _fast

    try:
        arenas = import_module("etlcore._fast.arenas_" + ("c" if _fast.COMPILED else "ref"))
    except ImportError:
        return
    arenas.install(limit)


def check_keep_memory(value: object) -> int:
    """``keep_memory`` as MiB of freed arenas to keep (0: CPython's default), or ConfigError."""
    from etlcore.errors import ConfigError

    if value is False or value is None:
        return 0
    if value is True:
        return DRIVER_ARENA_CACHE
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ConfigError("keep_memory", "false, true (keep up to "
                      f"{DRIVER_ARENA_CACHE} MiB of freed memory) or a positive number of MiB",
                      value)


def driver_keep_memory(mib: int) -> None:
    """Keep up to ``mib`` MiB of freed pymalloc arenas (and glibc's freed heap) in this
    process for the next batch; 0 does nothing. Process-wide and for good: see
    ``StreamingContext``'s ``keep_memory``."""
    if mib:
        keep_arenas(mib)


def keep_heap(mib: int = ARENA_CACHE) -> None:
    """glibc: serve big blocks (a task's record lists, read buffers) from the heap and keep
    up to ``mib`` MiB of freed heap, instead of mapping and unmapping them every task.

    The trim threshold follows the caller's limit, not a fixed 64 MiB: a driver asked to
    keep 1 GiB whose own code frees more than 64 MiB of heap between batches handed the
    heap's top back and faulted it in again (the benchmark's checksum of a million W2
    rows between runs: ~8,700 faults in the next run, in its pane tables, accumulators
    and the job's growing row list).
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, min(mib << 20, _INT_MAX))
