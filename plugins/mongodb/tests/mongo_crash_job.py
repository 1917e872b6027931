"""Crash-test job: generator clicks -> windowed counts, running totals and raw events, all
into MongoDB through the ``mongodb`` sink.

    python mongo_crash_job.py URI DATABASE CKPT [local|processes]

Every batch reads exactly ``BOUND`` records per partition (the generator's rate is far
above the cap) and the manual clock makes batch times a function of the batch id, so a
restarted job plans the same batches as an uninterrupted one. ``SLOW`` seconds of sleep
per batch give the test time to kill it mid-batch. The job stops after batch ``LAST``
(the first empty one), also when that batch is the replayed pending batch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit

PARTITIONS, LIMIT, BOUND = 2, 600, 5
LAST = LIMIT // BOUND  # batches 0..LAST-1 carry data, batch LAST is empty
SLOW = 0.02


def main(uri: str, database: str, ckpt: Path, runner: str = "local") -> None:
    if last_commit(ckpt) >= LAST:
        return  # finished before the last kill landed
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="mongo-crash", checkpoint_interval=4,
                           max_rate_per_partition=BOUND, runner=runner, parallelism=2,
                           workers=2 if runner == "processes" else None)
    mongo = {"uri": uri, "database": database, "chunk_records": 7}
    clicks = ctx.source("generator", kind="clicks", seed=11, rate=1000, partitions=PARTITIONS,
                        limit=LIMIT, start_time=1_700_000_000.0)
    # raw events: append-only, _id = <epoch>/<batch>/<partition>/<index>
    clicks.sink("mongodb", collection="events", timestamp_field="written_at", **mongo)
    windowed = (clicks.map(lambda r: (r["event"], 1))
                .reduce_by_key_and_window("sum", None, length=3, num_partitions=2))
    (windowed.transform(lambda recs, info: [(info.batch_id, k, v) for k, v in recs])
             .sink("mongodb", collection="windowed", key=["batch_id", "event"],
                   fields=["batch_id", "event", "n"], **mongo))
    totals = (clicks.map(lambda r: (r["user_id"], 1))
              .update_state_by_key(lambda new, old: (old or 0) + sum(new)))
    totals.sink("mongodb", collection="totals", key=["user_id"], fields=["user_id", "clicks"],
                operation="update", **mongo)
    clicks.foreach_batch(lambda batch_id, records: time.sleep(SLOW))

    def stop_at_last(m):  # also fires when batch LAST is the replayed pending batch
        if m.batch_id >= LAST:
            ctx.stop()

    ctx.add_listener(stop_at_last)
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), *sys.argv[4:])
