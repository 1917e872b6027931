"""HDFS stopped for 12 seconds mid-job and started again: the job waits, loses nothing.

Every WebHDFS call is retried with backoff while the NameNode (or the DataNode it
redirects to) is down or still in safe mode (a warning per retry,
``etlcore_hdfs.fs.STATS["retries"]`` counting them); afterwards the output holds
every input record exactly once. The cluster keeps its files across the restart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from etlcore_hdfs import fs as hdfsfs
from hdfs_testlib import committed, put_lines

from etlcore import StreamingContext
from etlcore.contract.crash import last_commit
from etlcore.contract.outage import outage_mid_job

pytestmark = [pytest.mark.services, pytest.mark.slow]

FILES = 60
OUTAGE = 12.0


def test_outage_mid_job_is_retried_and_nothing_lost_or_doubled(
        hdfs_client: Any, hdfs_dir_factory: Any, hdfs_service: Any, hdfs_url: Any,
        hdfs_settings: dict[str, Any], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    root = hdfs_dir_factory()
    want = []
    for f in range(FILES):
        records = [{"f": f, "i": i} for i in range(5)]
        put_lines(hdfs_client, f"{root}/in/{f:05d}.json", records)
        want.extend(records)
    ckpt = tmp_path / "ckpt"
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="outage", parallelism=2)
    h = {**hdfs_settings, "retries": 120, "retry_cap": 1.0, "timeout": 3.0}
    (ctx.source("hdfs", path=hdfs_url(f"{root}/in"), format="json", max_files_per_batch=1, **h)
        .sink("hdfs", path=hdfs_url(f"{root}/out"), **h))
    before = hdfsfs.STATS["retries"]
    caplog.set_level(logging.WARNING, logger="etlcore.retry")
    ctx.start(until_idle=True)
    down = outage_mid_job(ctx, hdfs_service, lambda: last_commit(ckpt), "HDFS", seconds=OUTAGE)
    at_stop, outage = down.at_stop, down.seconds
    retries = hdfsfs.STATS["retries"] - before
    print(f"outage {outage:.1f}s after batch {at_stop}; {retries} retries")
    assert outage >= OUTAGE
    assert at_stop < FILES - 1, "the outage came after the job was done"
    assert last_commit(ckpt) == FILES  # batch FILES is the empty one that ends the run
    got = committed(hdfs_client, f"{root}/out")
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    assert retries >= 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("HDFS " in m and "retry" in m for m in warnings), warnings[:5]
