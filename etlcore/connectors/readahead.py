"""Files a directory reader fetches past its batch's end, for the batch that reads them next.

A batch's files download ``read_ahead`` at a time while the task parses them;
when the last are on their way, the window would empty, and the network would
wait for the task to finish, the batch to commit and the next one to be
planned. The manifest already names the files after the batch (one listing
finds them all), so the reader keeps the window full with them: the next
batch finds its first files fetched. On a remote store this is the gap
between batches that kept a job below the client's own download of the same
files (HDFS, local runner: 65%).

What is fetched ahead is the bytes a later read would get: files are never
changed once listed (write, then rename), and a fetch that failed is made
again by the batch that reads the file, so a dead letter's reason is that of
its own batch. Only remote stores (``read_ahead`` > 1) read ahead; at most
``limit`` fetches are kept, the oldest dropped first (an unused one costs its
bytes only until then).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class ReadAhead:
    """Fetches on a pool that outlives one read, by key (a file and its part)."""

    def __init__(self, workers: int, limit: int):
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="etlcore-readahead")
        self.limit = limit
        self._pending: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` on the pool, for this read."""
        return self.pool.submit(fn, *args)

    def keep(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> None:
        """Start ``fn(*args)`` for a later read that asks for ``key``."""
        with self._lock:
            if key in self._pending:
                return
            self._pending[key] = self.pool.submit(fn, *args)
            while len(self._pending) > self.limit:  # never read: drop the oldest
                self._pending.pop(next(iter(self._pending))).cancel()

    def take(self, key: Hashable) -> Future[Any] | None:
        """The fetch kept for ``key``, or None."""
        with self._lock:
            return self._pending.pop(key, None)

    def close(self) -> None:
        with self._lock:
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
