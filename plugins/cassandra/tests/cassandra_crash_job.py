"""Crash-test job: generator clicks -> Cassandra, run as a child process and SIGKILLed.

    python cassandra_crash_job.py CONTACT KEYSPACE PREFIX CHECKPOINT [RUNNER]

Four tables, all created by the sink (create_table), named ``PREFIX_*``:

- ``raw``: every click, append mode (keyed by epoch, batch, partition, position);
- ``win``: windowed counts per (batch_id, event), upsert;
- ``latest``: the current window's count per event, overwritten every batch (a later
  batch's cells must win, also after a replay: USING TIMESTAMP of the batch time);
- ``totals``: running clicks per user (update_state_by_key), upsert.

Every batch reads exactly ``BOUND`` records per partition and the clock is manual, so a
restarted job plans the same batches as an uninterrupted one. The job stops after batch
``LAST`` (the first empty one), also when that batch is the replayed pending one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit

PARTITIONS, BOUND = 2, 5
LIMIT = int(os.environ.get("CRASH_LIMIT", "1000"))
LAST = LIMIT // BOUND
SLOW = 0.01


def main(contact: str, keyspace: str, prefix: str, ckpt: Path, runner: str = "local") -> None:
    if last_commit(ckpt) >= LAST:
        return
    host, _, port = contact.rpartition(":")
    common = {"contact_points": [host], "port": int(port), "keyspace": keyspace,
              "consistency": "ONE", "protocol_version": 5, "create_table": True,
              "retry_for": 60.0}
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="cassandra-crash",
                           checkpoint_interval=4, max_rate_per_partition=BOUND, runner=runner,
                           parallelism=2)
    clicks = ctx.source("generator", kind="clicks", seed=7, rate=1000, partitions=PARTITIONS,
                        limit=LIMIT, start_time=1_700_000_000.0)
    clicks.sink("cassandra", table=f"{prefix}_raw", mode="append",
                columns={"user_id": "text", "url": "text", "event": "text", "ts": "double"},
                **common)
    windowed = (clicks.map(lambda r: (r["event"], 1))
                      .reduce_by_key_and_window("sum", None, length=3, num_partitions=2))
    (windowed.transform(lambda recs, info: [(info.batch_id, k, v) for k, v in recs])
             .sink("cassandra", table=f"{prefix}_win",
                   columns={"batch_id": "bigint", "event": "text", "n": "bigint"},
                   primary_key=["batch_id", "event"], **common))
    windowed.sink("cassandra", table=f"{prefix}_latest",
                  columns={"event": "text", "n": "bigint"}, primary_key=["event"], **common)
    totals = (clicks.map(lambda r: (r["user_id"], 1))
                    .update_state_by_key(lambda new, old: (old or 0) + sum(new)))
    totals.sink("cassandra", table=f"{prefix}_totals",
                columns={"user_id": "text", "clicks": "bigint"}, primary_key=["user_id"],
                **common)
    clicks.foreach_batch(lambda batch_id, records: time.sleep(SLOW))

    def stop_at_last(m):  # also fires when batch LAST is the replayed pending batch
        if m.batch_id >= LAST:
            ctx.stop()

    ctx.add_listener(stop_at_last)
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), *sys.argv[5:])
