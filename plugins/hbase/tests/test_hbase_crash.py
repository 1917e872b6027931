"""Exactly-once through SIGKILLs of a job writing raw events and windowed counts to HBase.

The job (``hbase_crash_job.py``) runs as a subprocess and is killed with SIGKILL
(with its worker processes) at seeded random moments after it committed a new batch,
then restarted on the same checkpoint; a final run finishes uninterrupted. The tables
must then hold exactly what one uninterrupted reference run stores: the same rows, the
same values, the same cell timestamps (the batch times), nothing missing or doubled.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hbase_crash_job import LAST, LIMIT, PARTITIONS, last_commit
from hbase_testlib import scan

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("hbase_crash_job.py")
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
                        timeout: float = 60.0) -> bool:
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
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is not None:
            check_exit(proc)
            return False
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes at once
        proc.wait()
        return True
    finally:
        if proc.stderr:
            proc.stderr.close()


def strip_epoch(rows: list[tuple[bytes, dict]]) -> list[tuple[bytes, dict]]:
    """Append-mode keys start with the checkpoint's epoch, which differs between the two
    checkpoints; the rest (batch, partition, position) must match."""
    return [(key.split(b":", 1)[1], cells) for key, cells in rows]


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkill_loop_stores_what_one_uninterrupted_run_stores(
        runner: str, hbase_thrift: tuple[str, int], hbase_table_factory: Callable[..., str],
        subprocess_env: dict[str, str], tmp_path: Path) -> None:
    host, port = hbase_thrift
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    ref = [hbase_table_factory(create=False) for _ in range(2)]
    got = [hbase_table_factory(create=False) for _ in range(2)]
    t0 = time.monotonic()
    check_exit(spawn(subprocess_env, host, str(port), *ref, str(tmp_path / "ref-ckpt")),
               timeout=120)
    t_ref = time.monotonic() - t0
    ckpt = tmp_path / "ckpt"
    argv = [host, str(port), *got, str(ckpt), runner]
    kills = 0
    while kills < KILLS:
        if not kill_after_progress(spawn(subprocess_env, *argv), ckpt, rng):
            break
        kills += 1
    print(f"{kills} kills, last committed batch {last_commit(ckpt)} of {LAST}; "
          f"reference run {t_ref:.1f}s")
    assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn(subprocess_env, *argv), timeout=120)

    want_events, got_events = scan(host, port, ref[0]), scan(host, port, got[0])
    assert len(want_events) == PARTITIONS * LIMIT
    assert len({key.split(b":", 1)[0] for key, _ in got_events}) == 1  # one epoch only
    assert strip_epoch(got_events) == strip_epoch(want_events)
    want_windowed, got_windowed = scan(host, port, ref[1]), scan(host, port, got[1])
    assert len(want_windowed) > 2 * LAST  # a row per event type and batch
    assert got_windowed == want_windowed
