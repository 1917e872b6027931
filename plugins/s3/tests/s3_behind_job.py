"""Crash-test job that commits behind: JSON-lines objects in S3 -> the files sink on S3.

    python s3_behind_job.py ENDPOINT BUCKET OUT CKPT RUNNER FILES

The input is :func:`s3_crash_job.make_input`'s ``FILES`` objects; every batch reads
``PER_BATCH`` of them (manual clock), so a restart plans what an uninterrupted run plans.
No state and no ``foreach_batch``: with a checkpoint the job commits batch n behind
batch n+1's tasks, and since the sink writes final keys (``plan_before_write``) n+1's plan
is logged before its tasks and while n commits. Raw events go to ``s3://BUCKET/<out>/events``.
"""

from __future__ import annotations

import sys

from s3_crash_job import PER_BATCH

from etlcore import StreamingContext


def main(endpoint: str, bucket: str, out: str, ckpt: str, runner: str = "local") -> None:
    extra = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="s3-behind", runner=runner,
                           parallelism=2, **extra)
    s3 = {"endpoint_url": endpoint, "path_style": True}
    events = ctx.source("s3", path=f"s3://{bucket}/in", format="json",
                        max_files_per_batch=PER_BATCH, listing="after_last", **s3)
    events.sink("s3", path=f"s3://{bucket}/{out}/events", **s3)
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
