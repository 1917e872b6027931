"""Crash-test job: generator clicks -> raw events and windowed counts, both into HBase.

    python hbase_crash_job.py HOST PORT EVENTS_TABLE WINDOWED_TABLE CKPT [RUNNER]

``RUNNER`` is local (default) or processes. Every batch reads exactly ``BOUND``
records per partition (the generator's rate is far above the cap), so with the
manual clock a restarted job plans the same batches as an uninterrupted one. The
raw events go to EVENTS_TABLE in append mode (row keys from the checkpoint epoch,
batch id, partition and position); the windowed counts per event type go to
WINDOWED_TABLE keyed by ``{event}#{window_end}``. Every cell carries the batch time
as its timestamp. The job stops after batch ``LAST`` (the first empty one), also when
that batch is replayed during recovery.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit

PARTITIONS = 2
LIMIT = int(os.environ.get("HBASE_CRASH_LIMIT", "4800"))  # records per partition
BOUND = 8  # records per partition per batch
LAST = LIMIT // BOUND  # batches 0..LAST-1 carry data, batch LAST is empty
SLOW = 0.01


def main(host: str, port: str, events_table: str, windowed_table: str, ckpt: str,
         runner: str = "local") -> None:
    if last_commit(Path(ckpt)) >= LAST:
        return  # finished before the last kill landed
    extra = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="hbase-crash", checkpoint_interval=4,
                           max_rate_per_partition=BOUND, runner=runner, parallelism=2, **extra)
    hbase = {"host": host, "port": int(port), "create_table": True, "batch_size": 500}
    clicks = ctx.source("generator", kind="clicks", seed=11, rate=1000, partitions=PARTITIONS,
                        limit=LIMIT, start_time=1_700_000_000.0)
    clicks.sink("hbase", table=events_table, family="e", **hbase)
    windowed = (clicks.map(lambda r: (r["event"], 1))
                      .reduce_by_key_and_window("sum", None, length=3, num_partitions=2))
    (windowed.transform(lambda recs, info: [{"event": k, "n": v, "window_end": info.batch_time}
                                            for k, v in recs])
             .sink("hbase", table=windowed_table, row_key="{event}#{window_end:.0f}",
                   types={"n": "int"}, int_encoding="long", **hbase))
    clicks.foreach_batch(lambda batch_id, records: time.sleep(SLOW))

    def stop_at_last(m):  # also fires when batch LAST is the replayed pending batch
        if m.batch_id >= LAST:
            ctx.stop()

    ctx.add_listener(stop_at_last)
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
