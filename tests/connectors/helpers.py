"""Helpers for connector tests: open a job before it runs, wait for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from etlcore import StreamingContext
from etlcore.scheduler import Scheduler


def open_job(ctx: StreamingContext) -> Scheduler:
    """Open sources and sinks without running a batch, so a test can feed a push source first.

    ``ctx.run`` then continues with the opened job (it opens only when not yet open).
    """
    scheduler = ctx._get_scheduler()
    scheduler.open()
    return scheduler


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.01)
