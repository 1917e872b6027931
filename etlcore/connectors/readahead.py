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

:class:`Window` keeps ``depth`` fetches in flight whatever order they finish in
(a slot is refilled when any fetch ends, not when the task takes the file at the
head), holding at most ``hold`` files fetched and not yet taken; the task takes
them in plan order, so a batch's records keep their order. After the batch's
last file is taken the window runs on into the next batch's files (kept here)
while the task commits, up to ``hold`` of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

HOLD_PER_SLOT = 2  # files a window may hold started past the task's, per fetch in flight
Start = Callable[[], "Future[Any] | None"]  # starts one fetch: its future, or None if kept


class ReadAhead:
    """Fetches on a pool that outlives one read, by key (a file and its part)."""

    def __init__(self, workers: int, limit: int):
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="etlcore-readahead")
        self.limit = limit
        self._pending: dict[Hashable, Future[Any]] = {}
        self._asked: dict[Hashable, None] = {}  # keys a read took or fetched itself, newest last
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` on the pool, for this read."""
        return self.pool.submit(fn, *args)

    def keep(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> Future[Any] | None:
        """Start ``fn(*args)`` for a later read that asks for ``key``; None when it is kept
        already or a read has asked for it (a window still running on past its batch must
        not fetch again what the next batch's read fetched itself)."""
        dropped = []
        with self._lock:
            if self._closed or key in self._pending or key in self._asked:
                return None
            future = self._pending[key] = self.pool.submit(fn, *args)
            while len(self._pending) > self.limit:  # never read: drop the oldest
                dropped.append(self._pending.pop(next(iter(self._pending))))
        for old in dropped:  # outside the lock: a cancel runs its window's callback here
            old.cancel()
        return future

    def take(self, key: Hashable) -> Future[Any] | None:
        """The fetch kept for ``key``, or None (the caller fetches it itself)."""
        with self._lock:
            self._asked[key] = None
            while len(self._asked) > 4 * self.limit:
                del self._asked[next(iter(self._asked))]
            return self._pending.pop(key, None)

    def close(self) -> None:
        with self._lock:
            dropped, self._pending = list(self._pending.values()), {}
            self._closed = True
        for future in dropped:  # outside the lock, as in keep()
            future.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)


class Window:
    """Fetches over a plan of entries taken in order: ``depth`` in flight, refilled as
    any one ends, at most ``hold`` started past the one the task is on.

    ``starts[k]()`` starts entry ``k``'s fetch and gives its future (None: nothing for
    this read to wait for, e.g. kept for the next read). Entries from ``own`` on belong
    to the next read: the window goes on starting them after the last of its own is
    taken, so the read-ahead does not run dry while the task commits, but stops for
    good if it is closed before then (an abandoned read).
    """

    def __init__(self, starts: Sequence[Start], own: int, depth: int, hold: int):
        self._starts, self._own = starts, own
        self._depth, self._hold = depth, max(depth, hold)
        self._futures: list[Future[Any] | None] = []
        self._taken = self._flying = 0
        self._stopped = False
        self._lock = threading.RLock()  # a done callback may run inside _fill()

    def take(self, k: int) -> Future[Any]:
        """Entry ``k``'s fetch (``k`` < ``own``, asked in order), started now if it was not."""
        with self._lock:
            self._taken = k + 1
            while len(self._futures) <= k:
                self._start()
            self._fill()
            future, self._futures[k] = self._futures[k], None  # the task holds it now
            assert future is not None
            return future

    def close(self) -> None:
        """No more starts unless every entry of this read was taken (then the next
        read's go on within the hold)."""
        with self._lock:
            if self._taken < self._own:
                self._stopped = True

    def _fill(self) -> None:
        while (not self._stopped and len(self._futures) < len(self._starts)
               and self._flying < self._depth and len(self._futures) - self._taken < self._hold):
            self._start()

    def _start(self) -> None:
        k = len(self._futures)
        future = self._starts[k]()
        self._futures.append(future if k < self._own else None)  # the next read's: kept there
        if future is not None and not future.done():
            self._flying += 1
            future.add_done_callback(self._ended)

    def _ended(self, _: Future[Any]) -> None:
        with self._lock:
            self._flying -= 1
            self._fill()
