"""Exactly-once through SIGKILLs of a job writing raw events and windowed counts to HBase.

The job (``hbase_crash_job.py``) runs as a subprocess and is killed with SIGKILL
(with its worker processes) at seeded random moments after it committed a new batch,
then restarted on the same checkpoint; a final run finishes uninterrupted. The tables
must then hold exactly what one uninterrupted reference run stores: the same rows, the
same values, the same cell timestamps (the batch times), nothing missing or doubled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hbase_crash_job import LAST, LIMIT, PARTITIONS
from hbase_testlib import scan

from etlcore.contract.crash import check_exit, kill_loop, last_commit, seeded_rng, spawn

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("hbase_crash_job.py")
KILLS = 20


def strip_epoch(rows: list[tuple[bytes, dict]]) -> list[tuple[bytes, dict]]:
    """Append-mode keys start with the checkpoint's epoch, which differs between the two
    checkpoints; the rest (batch, partition, position) must match."""
    return [(key.split(b":", 1)[1], cells) for key, cells in rows]


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkill_loop_stores_what_one_uninterrupted_run_stores(
        runner: str, hbase_thrift: tuple[str, int], hbase_table_factory: Callable[..., str],
        subprocess_env: dict[str, str], tmp_path: Path) -> None:
    host, port = hbase_thrift
    rng = seeded_rng()
    ref = [hbase_table_factory(create=False) for _ in range(2)]
    got = [hbase_table_factory(create=False) for _ in range(2)]
    t0 = time.monotonic()
    check_exit(spawn(JOB, subprocess_env, host, str(port), *ref, str(tmp_path / "ref-ckpt")),
               timeout=120)
    t_ref = time.monotonic() - t0
    ckpt = tmp_path / "ckpt"
    argv = [host, str(port), *got, str(ckpt), runner]
    kills = kill_loop(lambda: spawn(JOB, subprocess_env, *argv), ckpt, rng, KILLS,
                      timeout=60.0, max_delay=0.5, adapt=False, poll=0.02)
    print(f"{kills} kills, last committed batch {last_commit(ckpt)} of {LAST}; "
          f"reference run {t_ref:.1f}s")
    assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
    check_exit(spawn(JOB, subprocess_env, *argv), timeout=120)

    want_events, got_events = scan(host, port, ref[0]), scan(host, port, got[0])
    assert len(want_events) == PARTITIONS * LIMIT
    assert len({key.split(b":", 1)[0] for key, _ in got_events}) == 1  # one epoch only
    assert strip_epoch(got_events) == strip_epoch(want_events)
    want_windowed, got_windowed = scan(host, port, ref[1]), scan(host, port, got[1])
    assert len(want_windowed) > 2 * LAST  # a row per event type and batch
    assert got_windowed == want_windowed
