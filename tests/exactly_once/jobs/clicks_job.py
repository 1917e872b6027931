"""Crash-test job: generator clicks -> windowed counts (files, sqlite append) + running totals.

    python clicks_job.py CKPT OUT [RUNNER]

``RUNNER`` is local (default), processes or spark (the master from
``ETLCORE_SPARK_MASTER``); ``CLICKS_BOUND`` sets records per partition per batch.

Every batch reads exactly ``BOUND`` records per partition (the generator's rate
is far above the cap), so with the manual clock a restarted job plans the same
batches as an uninterrupted one. ``SLOW`` seconds of sleep per batch give the
crash test time to kill it mid-run. The job stops after batch ``LAST`` (the
first empty one), also when that batch is replayed during recovery.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from etlcore import StreamingContext

PARTITIONS, LIMIT, BOUND = 2, 3200, int(os.environ.get("CLICKS_BOUND", "5"))
LAST = LIMIT // BOUND  # batches 0..LAST-1 carry data, batch LAST is empty
SLOW = 0.02


def last_commit(ckpt: Path) -> int:
    ids = [int(p.stem) for p in (ckpt / "commits").glob("*.json") if p.stem.isdigit()]
    return max(ids, default=-1)


def main(ckpt: Path, out: Path, runner: str = "local") -> None:
    if last_commit(ckpt) >= LAST:
        return  # finished before the last kill landed
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="clicks", checkpoint_interval=4,
                           max_rate_per_partition=BOUND, runner=runner, parallelism=2)
    clicks = ctx.source("generator", kind="clicks", seed=11, rate=1000, partitions=PARTITIONS,
                        limit=LIMIT, start_time=1_700_000_000.0)
    events = clicks.map(lambda r: (r["event"], 1))
    windowed = events.reduce_by_key_and_window("sum", None, length=3, num_partitions=2)
    windowed.sink("files", path=str(out / "files"))
    (windowed.transform(lambda recs, info: [(info.batch_id, k, v) for k, v in recs])
             .sink("sqlite", path=str(out / "out.db"), table="windowed", mode="append",
                   columns=["batch_id", "event", "n"]))
    totals = (clicks.map(lambda r: (r["user_id"], 1))
                    .update_state_by_key(lambda new, old: (old or 0) + sum(new)))
    totals.sink("sqlite", path=str(out / "out.db"), table="totals", key=["user_id"],
                columns=["user_id", "clicks"])
    clicks.foreach_batch(lambda batch_id, records: time.sleep(SLOW))

    def stop_at_last(m):  # also fires when batch LAST is the replayed pending batch
        if m.batch_id >= LAST:
            ctx.stop()

    ctx.add_listener(stop_at_last)
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
