"""Run a context in the foreground with the CLI's signal contract.

The first SIGINT or SIGTERM asks for a graceful stop (the batch in progress
finishes and commits, the exit code is 0); a second one exits at once with
130, skipping cleanup, for a job that hangs in a sink.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from etlcore.context import StreamingContext
from etlcore.metrics import JobMetrics

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_POLL_S = 0.2


def run_foreground(ctx: StreamingContext, *, batches: int | None = None,
                   until_idle: bool = False, duration: float | None = None,
                   on_started: Callable[[StreamingContext], Any] | None = None) -> JobMetrics:
    """Run until a stop option or a signal ends the job; re-raise the job's error.

    ``on_started(ctx)`` runs once the job is open (the CLI prints the UI's address).
    """
    metrics = ctx.metrics  # creates the scheduler, so a signal from now on can stop it
    signals_seen = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            if sys.stdout.isatty():
                sys.__stdout__.write("\x1b[?25h\n")  # a live display hid the cursor
                sys.__stdout__.flush()
            os._exit(130)
        name = signal.Signals(signum).name
        sys.stderr.write(f"{name}: stopping after the batch in progress "
                         "(send it again to quit at once)\n")
        sys.stderr.flush()
        ctx.stop(graceful=True)

    previous = {s: signal.signal(s, on_signal) for s in _SIGNALS}
    try:
        ctx.start(batches=batches, until_idle=until_idle, duration=duration)
        if on_started is not None:
            on_started(ctx)
        while not ctx.await_termination(_POLL_S):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return metrics
