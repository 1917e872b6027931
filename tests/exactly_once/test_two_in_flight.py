"""A driver killed with two batches in flight converges: both open plans replay, in order.

Committing behind (:mod:`etlcore.pipelining`), batch n's commit runs on the commit-log
thread while batch n+1's plan is logged and its tasks write. The test hook
``ETLCORE_TEST_KILL_TWO_IN_FLIGHT`` holds n's commit before its record (``N``) or before
its sinks' commits (``N:sinks``) and SIGKILLs the driver once n+1's plan is durable and
its writers ran: the checkpoint then has two plans past the last commit. The restart must
replay n and n+1 with their logged plans and store every record exactly once: the files
sink's parts and the sqlite table (``append``: a record stored twice shows twice) equal
an uninterrupted run's.
"""

from __future__ import annotations

import signal

import pytest

from etlcore.pipelining import KILL_TWO_IN_FLIGHT
from tests.exactly_once.test_plan_overlap import run_job, stored

KILLED = 4  # batch n+1; batch n = 3 is committing behind it


@pytest.mark.parametrize("where", ["record", "sinks"])
def test_driver_killed_with_two_batches_in_flight_converges(tmp_path, where):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    hook = f"{KILLED}:sinks" if where == "sinks" else str(KILLED)
    assert run_job(ckpt, out, **{KILL_TWO_IN_FLIGHT: hook}) == -signal.SIGKILL, \
        "the hook did not kill the driver"
    # the window: plans n and n+1 durable, n's commit record not, n+1's parts staged
    assert (ckpt / "plans" / f"{KILLED:012d}.json").exists()
    assert (ckpt / "plans" / f"{KILLED - 1:012d}.json").exists()
    assert (ckpt / "commits" / f"{KILLED - 2:012d}.json").exists()
    assert not (ckpt / "commits" / f"{KILLED - 1:012d}.json").exists()
    files = out / "files"
    assert sorted(p.name for p in (files / f"batch-{KILLED:012d}").iterdir()) == [
        ".part-00000.jsonl.tmp", ".part-00001.jsonl.tmp"]
    batch_n = sorted(p.name for p in (files / f"batch-{KILLED - 1:012d}").iterdir())
    if where == "sinks":  # nothing of n committed: its parts still staged
        assert batch_n == [".part-00000.jsonl.tmp", ".part-00001.jsonl.tmp"]
    else:  # n's sinks committed, its record not
        assert batch_n == ["_SUCCESS", "part-00000.jsonl", "part-00001.jsonl"]

    assert run_job(ckpt, out) == 0
    assert (ckpt / "commits" / f"{KILLED:012d}.json").exists()
    run_job(tmp_path / "ref-ckpt", tmp_path / "ref")
    got, want = stored(out), stored(tmp_path / "ref")
    assert sum(want["rows"].values()) == 240 and max(want["rows"].values()) == 1
    assert got["rows"] == want["rows"]
    assert got["files"] == want["files"]
