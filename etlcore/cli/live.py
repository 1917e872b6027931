"""What the terminal shows while a job runs: one row per committed batch.

On a terminal, a rich table of the latest batches stays at the bottom while
sink output scrolls above it; otherwise (CI logs, pipes) each batch is one
plain line, so logs stay greppable.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any, TextIO

from etlcore.metrics import BatchMetrics

COLUMNS = ("batch", "records in", "input rate", "processing", "sched. delay", "dead letters",
           "state")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def cells(m: BatchMetrics) -> tuple[str, ...]:
    batch = f"{m.batch_id}{' (replay)' if m.replay else ''}"
    return (batch, str(m.records_in), f"{m.input_rate:.1f}/s", _ms(m.processing_s),
            _ms(m.scheduling_delay_s), str(m.dead_letters), str(m.state_size))


def plain_line(m: BatchMetrics) -> str:
    """``batch 3 | records in 200 | input rate 200.0/s | ...``: one greppable line."""
    return " | ".join(f"{name} {value}" for name, value in zip(COLUMNS, cells(m), strict=True))


class PlainDisplay:
    """One line per batch on a stream (stdout unless told)."""

    def __init__(self, out: TextIO | None = None):
        self.out = out

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __call__(self, m: BatchMetrics) -> None:
        out = self.out or sys.stdout
        out.write(plain_line(m) + "\n")
        out.flush()


class LiveDisplay:
    """A rich table of the last ``rows`` batches, refreshed as batches commit."""

    def __init__(self, title: str, rows: int = 8):
        from rich.console import Console
        from rich.live import Live

        self.title = title
        self.recent: deque[BatchMetrics] = deque(maxlen=rows)
        self.live = Live(self._table(), console=Console(), refresh_per_second=4,
                         redirect_stdout=True, redirect_stderr=True)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", expand=False)
        for name in COLUMNS:
            table.add_column(name, justify="left" if name == "batch" else "right")
        for m in self.recent:
            table.add_row(*cells(m))
        return table

    def __enter__(self) -> LiveDisplay:
        self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.stop()

    def __call__(self, m: BatchMetrics) -> None:
        self.recent.append(m)
        self.live.update(self._table())


def make_display(title: str, out: TextIO | None = None) -> PlainDisplay | LiveDisplay:
    """A live table on a terminal, plain lines otherwise."""
    stream = out or sys.stdout
    if stream.isatty():
        return LiveDisplay(title)
    return PlainDisplay(out)
