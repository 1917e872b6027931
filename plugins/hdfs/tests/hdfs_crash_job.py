"""Crash-test job: JSON-lines files in HDFS -> raw events and windowed counts, both to HDFS.

    python hdfs_crash_job.py HDFS_URL ROOT OUT CKPT [RUNNER]

The input, ``HDFS_URL/ROOT/in`` (:func:`make_input`), exists before the first
run; every batch reads ``PER_BATCH`` files, so with the manual clock a restarted
job plans the same batches as an uninterrupted one. Raw events go to
``ROOT/OUT/events`` (JSON lines), windowed counts per event type to
``ROOT/OUT/windowed`` (CSV). The job runs until the first empty batch. The user
comes from ``HADOOP_USER_NAME``. ``CKPT`` is a local directory or an ``hdfs://``
URL (a checkpoint on HDFS).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit

FILES = 100
PER_FILE = 10
PER_BATCH = 2
LAST = FILES // PER_BATCH  # batches 0..LAST-1 carry data, batch LAST is empty
EVENTS = ("view", "click", "buy")


def make_input(client: Any, folder: str) -> None:
    for f in range(FILES):
        body = "".join(json.dumps({"f": f, "i": i, "event": EVENTS[(f * 7 + i) % 3]}) + "\n"
                       for i in range(PER_FILE))
        client.write(f"{folder}/{f:05d}.json", body.encode())


def main(url: str, root: str, out: str, ckpt: str, runner: str = "local") -> None:
    if last_commit(ckpt) >= LAST:
        return  # finished before the last kill landed
    extra = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="hdfs-crash", checkpoint_interval=4,
                           runner=runner, parallelism=2, **extra)
    h = {"user": os.environ["HADOOP_USER_NAME"]}
    events = ctx.source("hdfs", path=f"{url}{root}/in", format="json",
                        max_files_per_batch=PER_BATCH, listing="after_last", **h)
    events.sink("hdfs", path=f"{url}{root}/{out}/events", **h)
    windowed = (events.map(lambda r: (r["event"], 1))
                      .reduce_by_key_and_window("sum", None, length=3, num_partitions=2))
    (windowed.transform(lambda recs, info: [{"event": k, "n": v, "window_end": info.batch_time}
                                            for k, v in sorted(recs)])
             .sink("hdfs", path=f"{url}{root}/{out}/windowed", format="csv", **h))
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
