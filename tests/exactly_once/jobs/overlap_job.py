"""Crash-test job for the plan logged beside the tasks: generator clicks -> files + sqlite.

    python overlap_job.py CKPT OUT

``OVERLAP_BOUND`` sets records per partition per batch, so a restart can plan a
batch other than the one its killed predecessor ran. Both sinks let the driver
log the plan while the tasks run (``plan_before_write`` False): the files sink
stages hidden temp files, the sqlite sink stores on the driver at commit, in
``append`` mode, so a record stored twice would show as a second row.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from etlcore import StreamingContext

PARTITIONS, LIMIT = 2, 120


def main(ckpt: Path, out: Path) -> None:
    bound = int(os.environ.get("OVERLAP_BOUND", "10"))
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="overlap",
                           max_rate_per_partition=bound)
    clicks = ctx.source("generator", kind="clicks", seed=7, rate=1000, partitions=PARTITIONS,
                        limit=LIMIT, start_time=1_700_000_000.0)
    clicks.sink("files", path=str(out / "files"))
    (clicks.map(lambda r: (r["user_id"], r["url"], r["event"], r["ts"]))
           .sink("sqlite", path=str(out / "out.db"), table="clicks", mode="append",
                 columns=["user_id", "url", "event", "ts"]))
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
