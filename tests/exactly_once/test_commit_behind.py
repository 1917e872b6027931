"""A batch commits behind the next batch's tasks, and the checkpoint's log stays in order.

With a checkpoint, sources that plan ahead and sinks only, the scheduler hands batch
n's commit (the sinks, then its commit record) to a commit-log thread and plans and
runs batch n+1 meanwhile. A sink commits batch n only after n's plan and n-1's commit
record are on disk, and never while a plan two batches on is; a crash or a failed
commit can leave batch n+1's plan beside n's missing commit; recovery replays both.
These tests check the order a sink sees, and that a failed commit converges on restart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.connectors.queue import MemorySink, MemorySinkConfig
from etlcore.pipelining import NO_COMMIT_BEHIND


class _LogProbe(MemorySink):
    """A memory sink that notes, per commit, its thread and the log files on disk."""

    def __init__(self, name: str, ckpt: Path, fail_at: int | None = None):
        super().__init__(MemorySinkConfig(name))
        self.ckpt = ckpt
        self.fail_at = fail_at
        self.seen: list[dict[str, Any]] = []

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        n = batch.batch_id
        self.seen.append({
            "batch": n,
            "main": threading.current_thread() is threading.main_thread(),
            "plan": (self.ckpt / "plans" / f"{n:012d}.json").exists(),
            "previous_commit": n == 0 or (self.ckpt / "commits" / f"{n - 1:012d}.json").exists(),
            "plan_after_next": (self.ckpt / "plans" / f"{n + 2:012d}.json").exists(),
        })
        if n == self.fail_at:
            # fail once the next batch's plan is on disk beside this missing commit
            give_up = time.monotonic() + 10
            while (not (self.ckpt / "plans" / f"{n + 1:012d}.json").exists()
                   and time.monotonic() < give_up):
                time.sleep(0.01)
            raise OSError(f"the store refused batch {n}")
        super().store(batch, records)


def _job(ckpt: Path, sink: MemorySink) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="behind", max_rate_per_partition=5)
    clicks = ctx.source("generator", kind="clicks", seed=5, rate=1000, partitions=2, limit=30,
                        start_time=1_700_000_000.0)
    clicks.map(lambda r: r["ts"]).to(sink, name="probe")
    return ctx


def test_a_batch_commits_behind_the_next_ones_tasks_in_log_order(tmp_path):
    ckpt = tmp_path / "ckpt"
    MemorySink.clear("behind")
    probe = _LogProbe("behind", ckpt)
    _job(ckpt, probe).run(until_idle=True)
    assert len(probe.seen) >= 6
    assert not any(s["main"] for s in probe.seen)  # on the plan-log thread
    # every commit after its own plan and the previous commit record; never two plans on
    assert all(s["plan"] and s["previous_commit"] and not s["plan_after_next"]
               for s in probe.seen)
    assert len(MemorySink.results("behind")) == 60


def test_the_switch_commits_in_line(tmp_path, monkeypatch):
    monkeypatch.setenv(NO_COMMIT_BEHIND, "1")
    ckpt = tmp_path / "ckpt"
    MemorySink.clear("in-line")
    probe = _LogProbe("in-line", ckpt)
    _job(ckpt, probe).run(until_idle=True)
    assert probe.seen and all(s["main"] for s in probe.seen)
    assert len(MemorySink.results("in-line")) == 60


def test_a_failed_commit_behind_converges_on_restart(tmp_path):
    ckpt = tmp_path / "ckpt"
    MemorySink.clear("behind-fail")
    with pytest.raises(OSError, match="refused batch 2"):
        _job(ckpt, _LogProbe("behind-fail", ckpt, fail_at=2)).run(until_idle=True)
    # batch 3 was planned and run while batch 2 committed; nothing of it was committed
    assert sorted(p.name for p in (ckpt / "commits").iterdir()) == [
        "000000000000.json", "000000000001.json"]
    assert sorted(p.name for p in (ckpt / "plans").iterdir())[-2:] == [
        "000000000002.json", "000000000003.json"]
    assert sorted(MemorySink.batches("behind-fail")) == [0, 1]

    # the restart replays batch 2 and then batch 3, both with their logged plans
    _job(ckpt, _LogProbe("behind-fail", ckpt)).run(until_idle=True)
    MemorySink.clear("behind-ref")
    _job(tmp_path / "ref", _LogProbe("behind-ref", tmp_path / "ref")).run(until_idle=True)
    assert MemorySink.results("behind-fail") == MemorySink.results("behind-ref")
    assert len(MemorySink.results("behind-ref")) == 60
