"""Crash-test job: JSON-lines objects in S3 -> raw events and windowed counts, both to S3.

    python s3_crash_job.py ENDPOINT BUCKET OUT CKPT [RUNNER [FILES]]

Credentials come from the standard AWS environment variables. ``CKPT`` is a local
directory or an ``s3://`` URL (a checkpoint on S3, whose endpoint then comes from
``AWS_ENDPOINT_URL``). The input,
``s3://BUCKET/in/`` (:func:`make_input`), exists before the first run; every
batch reads ``PER_BATCH`` objects, so with the manual clock a restarted job
plans the same batches as an uninterrupted one. Raw events go to
``s3://BUCKET/<out>/events``, windowed counts per event type to
``s3://BUCKET/<out>/windowed``. The job runs until the first empty batch.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit

FILES = 720
PER_FILE = 10
PER_BATCH = 2
LAST = FILES // PER_BATCH  # batches 0..LAST-1 carry data, batch LAST is empty
EVENTS = ("view", "click", "buy")


def make_input(client: Any, bucket: str, files: int = FILES) -> None:
    for f in range(files):
        body = "".join(json.dumps({"f": f, "i": i, "event": EVENTS[(f * 7 + i) % 3]}) + "\n"
                       for i in range(PER_FILE))
        client.put_object(Bucket=bucket, Key=f"in/{f:05d}.json", Body=body.encode())


def main(endpoint: str, bucket: str, out: str, ckpt: str, runner: str = "local",
         files: str = str(FILES)) -> None:
    """``files``: how many input objects :func:`make_input` wrote (batches: half as many)."""
    if last_commit(ckpt) >= int(files) // PER_BATCH:
        return  # finished before the last kill landed
    extra = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="s3-crash", checkpoint_interval=4,
                           runner=runner, parallelism=2, **extra)
    s3 = {"endpoint_url": endpoint, "path_style": True}
    events = ctx.source("s3", path=f"s3://{bucket}/in", format="json",
                        max_files_per_batch=PER_BATCH, listing="after_last", **s3)
    events.sink("s3", path=f"s3://{bucket}/{out}/events", **s3)
    windowed = (events.map(lambda r: (r["event"], 1))
                      .reduce_by_key_and_window("sum", None, length=3, num_partitions=2))
    (windowed.transform(lambda recs, info: [{"event": k, "n": v, "window_end": info.batch_time}
                                            for k, v in sorted(recs)])
             .sink("s3", path=f"s3://{bucket}/{out}/windowed", format="csv", **s3))
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
