"""The server-outage loop of connector test suites, and the poll it is built on.

An outage test starts a job, waits until it committed a few batches, stops the
connector's server for a while (the job must wait: at most the batch in flight
commits), starts the server again and lets the job finish; the test then checks
that the output holds every record once::

    ctx.start(until_idle=True)
    down = outage_mid_job(ctx, hdfs_service, lambda: last_commit(ckpt), "HDFS", seconds=12)
    assert down.seconds >= 12 and down.at_stop < FILES - 1
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Call ``check`` every ``every`` seconds until it returns something true, and return
    that; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(every)


class Server(Protocol):
    """What the loop needs of a server: the service harness's ``stop`` and ``start``."""

    def stop(self) -> Any: ...

    def start(self) -> Any: ...


class Job(Protocol):
    """What the loop needs of a started job (a :class:`~etlcore.StreamingContext`)."""

    def await_termination(self, timeout: float | None = None) -> bool: ...

    def stop(self, graceful: bool = True) -> Any: ...


@dataclass(frozen=True)
class Outage:
    """What happened: the job's progress when the server stopped and just before it
    started again, and how long it was down (seconds)."""

    at_stop: int
    before_start: int
    seconds: float


def outage_mid_job(job: Job, server: Server, progress: Callable[[], int], what: str, *,
                   seconds: float, after: int = 10, progress_timeout: float = 120.0,
                   finish_timeout: float = 300.0) -> Outage:
    """Stop ``server`` for ``seconds`` once ``progress()`` (committed batches) reached
    ``after``, start it again and wait for the started ``job`` to finish.

    Fails if more than the batch in flight committed while the server was down, or the
    job did not finish within ``finish_timeout``. The server is started again and the job
    stopped whatever happens, so a failure never leaves a shared server down.
    """
    try:
        wait_for(lambda: progress() >= after, progress_timeout,
                 f"{after} batches before the outage")
        server.stop()
        down = time.monotonic()
        at_stop = progress()
        time.sleep(seconds)
        before_start = progress()
        assert before_start <= at_stop + 1, f"batches committed while {what} was down"
        server.start()
        outage = time.monotonic() - down
        assert job.await_termination(timeout=finish_timeout), \
            "the job did not finish after the outage"
    finally:
        server.start()  # a no-op when up: never leave the server down for later tests
        job.stop(graceful=False)
    return Outage(at_stop, before_start, outage)
