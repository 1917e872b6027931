"""A small job the UI tests watch: JSON lines (some malformed) -> counts per user.

It reads records, refuses some (dead letters with a reason), keeps keyed state,
writes to a memory sink and counts a connector-style event in every task, so
every family of metrics has something in it.
"""

from __future__ import annotations

import json
from typing import Any

from etlcore import StreamingContext
from etlcore.metrics import count

BAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def lines(batches: int, per_batch: int = 20) -> list[list[str]]:
    """``batches`` batches of JSON lines; every 7th line is malformed (the last one is BAD)."""
    out = []
    n = 0
    for _ in range(batches):
        batch = []
        for _ in range(per_batch):
            n += 1
            batch.append(BAD if n % 7 == 0 else json.dumps({"user": f"u{n % 5}", "n": n}))
        out.append(batch)
    return out


def parse(line: str) -> dict[str, Any]:
    count("parsed")  # a connector event, counted wherever the task runs
    return json.loads(line)


def build(ctx: StreamingContext, batches: list[list[str]], sink: str) -> None:
    users = ctx.queue_stream(batches, name="lines").map(parse, on_error="dead_letter")
    totals = users.map(lambda r: (r["user"], 1)).update_state_by_key(
        lambda new, old: (old or 0) + sum(new))
    totals.sink("memory", name=sink)
