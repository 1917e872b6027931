"""A driver killed with two batches in flight on S3 converges (MinIO).

The files sink on S3 writes parts under their final keys, so a batch's plan is durable
before its writers start (``plan_before_write``). Committing behind, batch n+1's plan is
logged and its parts uploaded while batch n's commit (its manifest, then its commit
record) runs on the commit-log thread. The test hook ``ETLCORE_TEST_KILL_TWO_IN_FLIGHT``
kills the driver there, before n's record (``N``) or before n's manifest (``N:sinks``);
the restart replays n and n+1 with their logged plans. The output prefix must then hold
byte for byte what an uninterrupted run writes, every record published once.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from s3_crash_job import PER_BATCH, PER_FILE, make_input
from s3_testlib import objects, published

from etlcore.contract.crash import check_exit, spawn
from etlcore.pipelining import KILL_TWO_IN_FLIGHT

pytestmark = [pytest.mark.services]

JOB = Path(__file__).with_name("s3_behind_job.py")
FILES = 24  # 12 batches
KILLED = 5  # batch n+1; batch n = 4 is committing behind it


@pytest.mark.parametrize(("runner", "where"), [("local", "record"), ("local", "sinks"),
                                               ("processes", "sinks")])
def test_driver_killed_with_two_batches_in_flight_writes_what_one_run_writes(
        runner: str, where: str, s3_client: Any, s3_bucket_factory: Any, s3_endpoint: str,
        s3_credentials: Any, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    env = {**subprocess_env, "AWS_ACCESS_KEY_ID": s3_credentials.access_key_id,
           "AWS_SECRET_ACCESS_KEY": s3_credentials.secret_access_key,
           "AWS_DEFAULT_REGION": s3_credentials.region}
    bucket = s3_bucket_factory()
    make_input(s3_client, bucket, FILES)
    check_exit(spawn(JOB, env, s3_endpoint, bucket, "ref", str(tmp_path / "ref-ckpt"),
                     runner), timeout=300)
    ckpt = tmp_path / "ckpt"
    argv = [s3_endpoint, bucket, "got", str(ckpt), runner]
    hook = f"{KILLED}:sinks" if where == "sinks" else str(KILLED)
    killed = spawn(JOB, {**env, KILL_TWO_IN_FLIGHT: hook}, *argv)
    assert killed.wait(timeout=120) == -signal.SIGKILL, "the hook did not kill the driver"

    # the window: plans n and n+1 durable, n's record not, n+1's parts under final keys
    plans = sorted(p.name for p in (ckpt / "plans").iterdir())
    assert plans[-2:] == [f"{KILLED - 1:012d}.json", f"{KILLED:012d}.json"]
    assert max(int(p.stem) for p in (ckpt / "commits").iterdir()) == KILLED - 2
    held = objects(s3_client, bucket, "got/events/")
    assert any(k.startswith(f"got/events/batch-{KILLED:012d}/part-") for k in held)
    manifests = {k.rsplit("/", 1)[1] for k in held if "/_manifests/" in k}
    assert f"batch-{KILLED:012d}.json" not in manifests
    assert (f"batch-{KILLED - 1:012d}.json" in manifests) == (where == "record")

    check_exit(spawn(JOB, env, *argv), timeout=300)
    want = objects(s3_client, bucket, "ref/")
    got = objects(s3_client, bucket, "got/")
    events = published(s3_client, bucket, "got/events")
    assert sorted((r["f"], r["i"]) for r in events) == [
        (f, i) for f in range(FILES) for i in range(PER_FILE)]
    assert len([k for k in want if "/_manifests/" in k]) == FILES // PER_BATCH
    assert sorted(k[4:] for k in got) == sorted(k[4:] for k in want)
    for key, data in want.items():
        assert got["got/" + key[4:]] == data, key
    assert json.loads(got[f"got/events/_manifests/batch-{KILLED:012d}.json"])["batch"] == KILLED
