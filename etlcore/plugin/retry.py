"""Retry a flaky call with exponential backoff and full jitter.

Clients of remote stores (a throttled Kinesis shard, a Cassandra node that is
restarting) fail transiently. Retrying at fixed intervals makes every worker
hammer the store in step; full jitter spreads them out (the AWS architecture
blog's "Exponential Backoff And Jitter"). Only the errors named in
``retry_on`` are retried, so a bad request or a denied credential fails at once.

    rows = retry(lambda: session.execute(stmt), attempts=6, retry_on=(Unavailable, Timeout))
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from etlcore.metrics import count

T = TypeVar("T")

RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]

log = logging.getLogger("etlcore.retry")


def backoff(attempt: int, base: float = 0.1, cap: float = 5.0,
            rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): uniform in [0, min(cap, base * 2**attempt)]."""
    return rng(0.0, min(cap, base * 2 ** min(attempt, 62)))


def _retryable(err: BaseException, retry_on: RetryOn) -> bool:
    if isinstance(retry_on, (type, tuple)):
        return isinstance(err, retry_on)
    return bool(retry_on(err))


def retry(fn: Callable[[], T], attempts: int = 5, base: float = 0.1, cap: float = 5.0,
          retry_on: RetryOn = Exception, *, what: str = "", stop: threading.Event | None = None,
          sleep: Callable[[float], object] = time.sleep) -> T:
    """``fn()``, called up to ``attempts`` times while it raises a ``retry_on`` error.

    ``retry_on`` is an exception class, a tuple of them, or a predicate (for
    errors that carry a code, such as botocore's ClientError). The last error
    is re-raised as it was, with a note saying how many attempts were made.
    Waiting ends early when ``stop`` is set (the job is stopping): the error is
    re-raised then. Each retry is logged as a warning naming ``what`` and counted
    as ``retries`` in the running batch's ``BatchMetrics.counts``.
    """
    if attempts < 1:
        raise ValueError(f"retry: attempts must be at least 1, got {attempts}")
    for attempt in range(attempts):
        try:
            return fn()
        except BaseException as err:
            last = attempt == attempts - 1
            if not _retryable(err, retry_on) or last:
                if attempt:
                    err.add_note(f"etlcore: gave up after {attempt + 1} attempts")
                raise
            delay = backoff(attempt, base, cap)
            count("retries")  # shows in the batch's metrics (BatchMetrics.counts)
            log.warning("%s failed (%s: %s); retry %d/%d in %.2fs", what or "call",
                        type(err).__name__, err, attempt + 1, attempts - 1, delay)
            if stop is not None:
                if stop.wait(delay):
                    err.add_note("etlcore: stopped while waiting to retry")
                    raise
            else:
                sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
