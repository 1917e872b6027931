"""Exactly-once with stage tasks off the driver: SIGKILL the driver under processes and spark.

The clicks job (windowed counts and keyed state into files and SQLite) runs on
worker processes or on the Spark cluster; the driver is killed at random
moments after it made progress, restarted each time, and the final stored
output must equal one uninterrupted run on the local runner, record for
record. Worker processes of a killed driver must go away by themselves.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.exactly_once.helpers import check_exit, spawn
from tests.exactly_once.jobs.clicks_job import last_commit
from tests.exactly_once.test_crash_generator import stored

pytestmark = [pytest.mark.slow, pytest.mark.services]

KILLS = 10


def kill_after_progress(proc: subprocess.Popen[bytes], ckpt: Path, rng: random.Random,
                        timeout: float = 90.0) -> bool:
    """SIGKILL the driver a random moment after it committed a new batch; False if it ended."""
    before = last_commit(ckpt)
    deadline = time.monotonic() + timeout
    while last_commit(ckpt) <= before:
        if proc.poll() is not None:
            check_exit(proc)
            return False
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.6))
    if proc.poll() is not None:
        check_exit(proc)
        return False
    proc.kill()
    proc.wait()
    return True


def orphans() -> set[str]:
    """multiprocessing processes whose parent died (re-parented to init)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,
                         text=True).stdout
    found = set()
    for line in out.splitlines():
        pid, ppid, args = line.split(None, 2)
        if ppid == "1" and "multiprocessing" in args:
            found.add(f"{pid} {args}")
    return found


@pytest.mark.parametrize("runner", ["processes", "spark"])
def test_driver_sigkill_loop_converges_to_one_uninterrupted_run(runner, tmp_path, monkeypatch,
                                                                request):
    if runner == "spark":
        monkeypatch.setenv("ETLCORE_SPARK_MASTER", request.getfixturevalue("spark_master").url)
    monkeypatch.setenv("CLICKS_BOUND", "40" if runner == "spark" else "10")
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    before = orphans()
    check_exit(spawn("clicks_job.py", tmp_path / "ref-ckpt", tmp_path / "ref"), timeout=300)
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    kills = 0
    while kills < KILLS:
        if not kill_after_progress(spawn("clicks_job.py", ckpt, out, runner), ckpt, rng):
            break
        kills += 1
    print(f"{kills} kills, last committed batch {last_commit(ckpt)}")
    assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn("clicks_job.py", ckpt, out, runner), timeout=300)
    got, want = stored(out), stored(tmp_path / "ref")
    assert len(want["totals"]) > 50 and len(want["windowed"]) > 20
    assert got == want
    if runner == "processes":
        time.sleep(1.5)  # workers notice the dead driver within 0.5 s
        assert orphans() - before == set()
