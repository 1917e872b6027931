"""MinIO stopped for 12 seconds mid-job and started again: the job waits, loses nothing.

Every S3 call is retried with backoff while the server is down (a warning per
retry, ``etlcore_s3.fs.STATS["retries"]`` counting them); afterwards the output
holds every input record exactly once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from etlcore_s3 import fs as s3fs
from s3_testlib import published, put_lines

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit
from etlcore.contract.outage import outage_mid_job

pytestmark = [pytest.mark.services, pytest.mark.slow]

FILES = 120
OUTAGE = 12.0


def test_outage_mid_job_is_retried_and_nothing_lost_or_doubled(
        s3_client: Any, s3_bucket_factory: Any, s3_service: Any, s3_settings: dict[str, Any],
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bucket = s3_bucket_factory()
    want = []
    for f in range(FILES):
        records = [{"f": f, "i": i} for i in range(5)]
        put_lines(s3_client, bucket, f"in/{f:05d}.json", records)
        want.extend(records)
    ckpt = tmp_path / "ckpt"
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="outage", parallelism=2)
    s3 = {**s3_settings, "retries": 60, "retry_cap": 1.0, "timeout": 3.0}
    (ctx.source("s3", path=f"s3://{bucket}/in", format="json", max_files_per_batch=1, **s3)
        .sink("s3", path=f"s3://{bucket}/out", **s3))
    before = s3fs.STATS["retries"]
    caplog.set_level(logging.WARNING, logger="etlcore.retry")
    ctx.start(until_idle=True)
    down = outage_mid_job(ctx, s3_service, lambda: last_commit(ckpt), "S3", seconds=OUTAGE)
    at_stop, outage = down.at_stop, down.seconds
    retries = s3fs.STATS["retries"] - before
    print(f"outage {outage:.1f}s after batch {at_stop}; {retries} retries")
    assert outage >= OUTAGE
    assert at_stop < FILES - 1, "the outage came after the job was done"
    assert last_commit(ckpt) == FILES  # batch FILES is the empty one that ends the run
    got = published(s3_client, bucket, "out")
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    assert retries >= 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("S3 " in m and "retry" in m for m in warnings), warnings[:5]
    assert all("etlcore-secret" not in m for m in warnings)
