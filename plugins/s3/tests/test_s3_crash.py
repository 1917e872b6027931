"""Exactly-once through SIGKILLs of a job reading from and writing to S3 (MinIO).

The job (``s3_crash_job.py``) runs as a subprocess and is killed with SIGKILL
(with its worker processes) at seeded random moments after it committed a new
batch, then restarted on the same checkpoint; a final run finishes
uninterrupted. Its output prefix must then hold exactly, byte for byte, what one
uninterrupted reference run writes: the same part objects and the same manifests,
nothing missing, doubled or left over from a killed attempt.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from s3_crash_job import FILES, LAST, PER_FILE, last_commit, make_input
from s3_testlib import objects, published

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("s3_crash_job.py")
KILLS = 20


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(JOB), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def check_exit(proc: subprocess.Popen[bytes], timeout: float | None = None) -> None:
    proc.wait(timeout)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, f"job failed with {proc.returncode}:\n{err[-4000:]}"


def kill_after_progress(proc: subprocess.Popen[bytes], ckpt: Path, rng: random.Random,
                        timeout: float = 90.0) -> bool:
    """SIGKILL the job (its whole process group) a random moment after it committed a new
    batch; False if it ended by itself first."""
    before = last_commit(ckpt)
    deadline = time.monotonic() + timeout
    try:
        while last_commit(ckpt) <= before:
            if proc.poll() is not None:
                check_exit(proc)
                return False
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            check_exit(proc)
            return False
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes at once
        proc.wait()
        return True
    finally:
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkill_loop_writes_what_one_uninterrupted_run_writes(
        runner: str, s3_client: Any, s3_bucket_factory: Any, s3_endpoint: str,
        s3_credentials: Any, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    env = {**subprocess_env, "AWS_ACCESS_KEY_ID": s3_credentials.access_key_id,
           "AWS_SECRET_ACCESS_KEY": s3_credentials.secret_access_key,
           "AWS_DEFAULT_REGION": s3_credentials.region}
    bucket = s3_bucket_factory()
    make_input(s3_client, bucket)
    t0 = time.monotonic()
    check_exit(spawn(env, s3_endpoint, bucket, "ref", str(tmp_path / "ref-ckpt"), runner),
               timeout=300)
    t_ref = time.monotonic() - t0
    ckpt = tmp_path / "ckpt"
    argv = [s3_endpoint, bucket, "got", str(ckpt), runner]
    kills = 0
    while kills < KILLS:
        if not kill_after_progress(spawn(env, *argv), ckpt, rng):
            break
        kills += 1
    print(f"{kills} kills, last committed batch {last_commit(ckpt)} of {LAST}; "
          f"reference run {t_ref:.1f}s")
    assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn(env, *argv), timeout=300)

    want = objects(s3_client, bucket, "ref/")
    got = objects(s3_client, bucket, "got/")
    events = published(s3_client, bucket, "ref/events")
    assert sorted((r["f"], r["i"]) for r in events) == [
        (f, i) for f in range(FILES) for i in range(PER_FILE)]
    manifests = [k for k in want if k.startswith("ref/events/_manifests/")]
    assert len(manifests) == LAST
    assert json.loads(want[manifests[-1]])["batch"] == LAST - 1
    assert any(k.startswith("ref/windowed/") for k in want)
    assert sorted(k[4:] for k in got) == sorted(k[4:] for k in want)
    for key, data in want.items():
        assert got["got/" + key[4:]] == data, key
