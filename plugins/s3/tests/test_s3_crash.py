"""Exactly-once through SIGKILLs of a job reading from and writing to S3 (MinIO).

The job (``s3_crash_job.py``) runs as a subprocess and is killed with SIGKILL
(with its worker processes) at seeded random moments after it committed a new
batch, then restarted on the same checkpoint; a final run finishes
uninterrupted. Its output prefix must then hold exactly, byte for byte, what one
uninterrupted reference run writes: the same part objects and the same manifests,
nothing missing, doubled or left over from a killed attempt.

The same job also keeps its checkpoint on S3 (``s3://BUCKET/ckpt``): plans,
commits, state, the source's manifest and the lease are objects there, and a
restart after SIGKILL takes over the dead driver's lease.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from s3_crash_job import FILES, LAST, PER_BATCH, PER_FILE, make_input
from s3_testlib import objects, published

from etlcore.contract.crash import check_exit, kill_loop, last_commit, seeded_rng, spawn

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("s3_crash_job.py")
KILLS = 20
KILLS_REMOTE_CHECKPOINT = 10
FILES_REMOTE_CHECKPOINT = 600  # 300 batches: CI saw up to 40 batches a kill before the client cache


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkill_loop_writes_what_one_uninterrupted_run_writes(
        runner: str, s3_client: Any, s3_bucket_factory: Any, s3_endpoint: str,
        s3_credentials: Any, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    rng = seeded_rng()
    env = {**subprocess_env, "AWS_ACCESS_KEY_ID": s3_credentials.access_key_id,
           "AWS_SECRET_ACCESS_KEY": s3_credentials.secret_access_key,
           "AWS_DEFAULT_REGION": s3_credentials.region}
    bucket = s3_bucket_factory()
    make_input(s3_client, bucket)
    t0 = time.monotonic()
    check_exit(spawn(JOB, env, s3_endpoint, bucket, "ref", str(tmp_path / "ref-ckpt"), runner),
               timeout=300)
    t_ref = time.monotonic() - t0
    ckpt = tmp_path / "ckpt"
    argv = [s3_endpoint, bucket, "got", str(ckpt), runner]
    kills = kill_loop(lambda: spawn(JOB, env, *argv), ckpt, rng, KILLS, timeout=90.0,
                      max_delay=0.3, adapt=False, poll=0.02)
    print(f"{kills} kills, last committed batch {last_commit(ckpt)} of {LAST}; "
          f"reference run {t_ref:.1f}s")
    assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn(JOB, env, *argv), timeout=300)

    assert_same_output(s3_client, bucket, FILES)


def assert_same_output(s3_client: Any, bucket: str, files: int) -> None:
    """``got/`` holds byte for byte what ``ref/`` holds, and ``ref/`` is complete."""
    last = files // PER_BATCH
    want = objects(s3_client, bucket, "ref/")
    got = objects(s3_client, bucket, "got/")
    events = published(s3_client, bucket, "ref/events")
    assert sorted((r["f"], r["i"]) for r in events) == [
        (f, i) for f in range(files) for i in range(PER_FILE)]
    manifests = [k for k in want if k.startswith("ref/events/_manifests/")]
    assert len(manifests) == last
    assert json.loads(want[manifests[-1]])["batch"] == last - 1
    assert any(k.startswith("ref/windowed/") for k in want)
    assert sorted(k[4:] for k in got) == sorted(k[4:] for k in want)
    for key, data in want.items():
        assert got["got/" + key[4:]] == data, key


def test_sigkill_loop_with_the_checkpoint_on_s3(
        s3_client: Any, s3_bucket_factory: Any, s3_endpoint: str, s3_credentials: Any,
        subprocess_env: dict[str, str], tmp_path: Path) -> None:
    """Checkpoint at ``s3://BUCKET/ckpt``; the reference run (also on S3) uses the
    ``processes`` runner, so a checkpoint on S3 serves worker processes too."""
    rng = seeded_rng()
    env = {**subprocess_env, "AWS_ACCESS_KEY_ID": s3_credentials.access_key_id,
           "AWS_SECRET_ACCESS_KEY": s3_credentials.secret_access_key,
           "AWS_DEFAULT_REGION": s3_credentials.region, "AWS_ENDPOINT_URL": s3_endpoint}
    bucket = s3_bucket_factory()
    files = FILES_REMOTE_CHECKPOINT
    make_input(s3_client, bucket, files)
    ref = spawn(JOB, env, s3_endpoint, bucket, "ref", f"s3://{bucket}/ref-ckpt", "processes",
                str(files))
    try:
        ckpt = f"s3://{bucket}/ckpt"
        argv = [s3_endpoint, bucket, "got", ckpt, "local", str(files)]
        with pytest.MonkeyPatch.context() as mp:  # last_commit() lists the checkpoint on S3
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                        "AWS_ENDPOINT_URL"):
                mp.setenv(key, env[key])
            kills = kill_loop(lambda: spawn(JOB, env, *argv), ckpt, rng,  # type: ignore[arg-type]
                              KILLS_REMOTE_CHECKPOINT, timeout=90.0, max_delay=0.1,
                              poll=0.02)  # adapts: a quiet machine ran 33 batches a kill
            print(f"{kills} kills, last committed batch {last_commit(ckpt)} of "
                  f"{files // PER_BATCH}")
        assert kills >= KILLS_REMOTE_CHECKPOINT, f"the job finished after {kills} kills"
        check_exit(spawn(JOB, env, *argv), timeout=300)
    finally:
        check_exit(ref, timeout=300)
    assert_same_output(s3_client, bucket, files)
    held = objects(s3_client, bucket, "ckpt/")
    assert "ckpt/metadata.json" in held
    assert f"ckpt/commits/{files // PER_BATCH:012d}.json" in held
    assert any(k.startswith("ckpt/sources/") and "/manifest/" in k for k in held)
    assert any(k.startswith("ckpt/_lease/") for k in held)
    assert not any(tmp_path.iterdir()), "a local directory was written for the checkpoint"
