"""Exactly-once under SIGKILL: a replayable source, windowed and keyed state, two sinks.

The job is killed at random moments (the seed is printed; set ETLCORE_CRASH_SEED
to replay a failure) and restarted each time; what it finally stored must equal,
record for record, what one uninterrupted run stores.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.exactly_once.helpers import check_exit, kill_after, part_files, spawn, table

pytestmark = pytest.mark.slow

KILLS = 22


def stored(out):
    return {
        "files": part_files(out / "files"),
        "windowed": table(out / "out.db", "windowed", "batch_id, event"),
        "totals": table(out / "out.db", "totals", "user_id"),
    }


def test_sigkill_loop_stores_exactly_what_one_run_stores(tmp_path):
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    reference = spawn("clicks_job.py", tmp_path / "ref-ckpt", tmp_path / "ref")
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    started = time.monotonic()
    kills = 0
    delays = []
    while kills < KILLS:
        delay = round(rng.uniform(0.05, 1.2), 3)
        delays.append(delay)
        if not kill_after(spawn("clicks_job.py", ckpt, out), delay):
            break  # finished on its own: the data ran out before the kills did
        kills += 1
    print(f"{kills} kills after {delays} s; crash phase {time.monotonic() - started:.1f}s")
    assert kills >= 20, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn("clicks_job.py", ckpt, out), timeout=120)
    check_exit(reference, timeout=120)
    got, want = stored(out), stored(tmp_path / "ref")
    assert len(want["files"]) > 100 and len(want["totals"]) > 50
    assert got["totals"] == want["totals"]
    assert got["windowed"] == want["windowed"]  # append mode: a duplicate batch would show
    assert got["files"] == want["files"]
