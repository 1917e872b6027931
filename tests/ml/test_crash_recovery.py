"""SIGKILL the sensors ML job again and again: the models it ends with are the uninterrupted run's.

The models are checkpointed state (numpy arrays in the state codec); recovery
restores the last snapshot and re-runs the committed batches after it, so the
weights and centres must come out bit for bit equal, and the z-score alerts
stored in SQLite row for row. The killed runs use the local runner or worker
processes (model state then travels encoded between driver and workers); the
reference is always one uninterrupted local run.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import pytest

from tests.exactly_once.helpers import check_exit, table
from tests.ml.jobs import sensors_ml_job as job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KILLS = 6
JOB = Path(job.__file__)


def spawn(*args: object):
    import subprocess
    import sys

    from tests.exactly_once.helpers import ROOT

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, str(JOB), *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after_progress(proc, ckpt: Path, rng: random.Random, timeout: float = 120.0) -> bool:
    """SIGKILL the job a random moment after it committed a new batch; False if it ended."""
    before = job.last_commit(ckpt)
    deadline = time.monotonic() + timeout
    while job.last_commit(ckpt) <= before:
        if proc.poll() is not None:
            check_exit(proc)
            return False
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    if proc.poll() is not None:
        check_exit(proc)
        return False
    proc.kill()
    proc.wait()
    return True


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_models_after_sigkills_equal_an_uninterrupted_run(tmp_path, runner):
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    ref = tmp_path / "ref"
    check_exit(spawn(tmp_path / "ref-ckpt", ref), timeout=300)
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    kills = 0
    while kills < KILLS and kill_after_progress(spawn(ckpt, out, runner), ckpt, rng):
        kills += 1
    print(f"{kills} kills, last committed batch {job.last_commit(ckpt)}")
    assert kills >= 3, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn(ckpt, out, runner), timeout=300)

    want, got = np.load(ref / "models.npz"), np.load(out / "models.npz")
    assert sorted(want.files) == sorted(got.files) == ["centers", "cweights", "weights"]
    for name in want.files:
        assert np.array_equal(want[name], got[name]), name
    assert not np.allclose(want["weights"], 0.0)  # the models did train
    alerts = table(ref / "out.db", "alerts", "key, batch_time, value")
    assert alerts, "the reference run raised no alerts"
    assert table(out / "out.db", "alerts", "key, batch_time, value") == alerts
