"""Exactly-once through SIGKILLs: a job writing raw events and windowed aggregates to
Cassandra is killed 20+ times at random moments after it made progress, then finishes
uninterrupted; every table must equal an uninterrupted reference run's, cell timestamps
included (``USING TIMESTAMP`` of the batch time: a replay writes the very same cells)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cassandra_crash_job import LAST
from cassandra_testlib import table_name

from etlcore.contract.crash import check_exit, child_env, kill_loop, last_commit, seeded_rng, spawn

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("cassandra_crash_job.py")
ROOT = Path(__file__).resolve().parents[3]
KILLS = 20


def stored(session: Any, keyspace: str, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows with the write timestamps of their cells (raw: without the epoch)."""
    def select(table: str, cols: str) -> list[tuple[Any, ...]]:
        rows = session.execute(f'SELECT {cols} FROM "{keyspace}"."{prefix}_{table}"',
                               timeout=60)
        return sorted(tuple(r) for r in rows)

    return {
        "raw": select("raw", "etl_batch, etl_partition, etl_position, user_id, url, event, ts, "
                             "WRITETIME(url)"),
        "win": select("win", "batch_id, event, n, WRITETIME(n)"),
        "latest": select("latest", "event, n, WRITETIME(n)"),
        "totals": select("totals", "user_id, clicks, WRITETIME(clicks)"),
    }


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkill_loop_converges_to_one_uninterrupted_run(
        runner: str, cassandra_contact: str, cassandra_keyspace: str, cassandra_session: Any,
        tmp_path: Path) -> None:
    """The job (and, under ``processes``, its two worker processes: the whole process group)
    is SIGKILLed; the uninterrupted reference always runs on the local runner."""
    rng = seeded_rng()
    env = child_env(ROOT, JOB.parent.parent)
    ref, run = table_name("ref"), table_name("run")
    started = time.monotonic()
    reference = spawn(JOB, env, cassandra_contact, cassandra_keyspace, ref,
                      str(tmp_path / "ref-ckpt"))
    ckpt = tmp_path / "ckpt"
    argv = [cassandra_contact, cassandra_keyspace, run, str(ckpt), runner]
    kills = kill_loop(lambda: spawn(JOB, env, *argv), ckpt, rng, KILLS, timeout=60.0,
                      max_delay=0.4, adapt=False)
    crashed_at = last_commit(ckpt)
    print(f"{kills} kills, last committed batch {crashed_at} of {LAST}; crash phase "
          f"{time.monotonic() - started:.1f}s")
    assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
    assert crashed_at < LAST
    check_exit(spawn(JOB, env, *argv), timeout=180)
    check_exit(reference, timeout=180)
    print(f"total {time.monotonic() - started:.1f}s")
    got = stored(cassandra_session, cassandra_keyspace, run)
    want = stored(cassandra_session, cassandra_keyspace, ref)
    assert len(want["raw"]) == 2 * LAST * 5  # every click once: PARTITIONS * LIMIT
    assert len(want["win"]) > 100 and len(want["totals"]) > 50 and len(want["latest"]) >= 2
    for name in want:
        assert got[name] == want[name], f"table {name} differs from the uninterrupted run"
    epochs = cassandra_session.execute(
        f'SELECT DISTINCT etl_epoch, etl_batch, etl_partition FROM "{cassandra_keyspace}".'
        f'"{run}_raw"', timeout=60)
    assert len({r.etl_epoch for r in epochs}) == 1  # one checkpoint, one epoch throughout
