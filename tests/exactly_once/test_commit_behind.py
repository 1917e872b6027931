"""A batch commits behind the next batch's tasks, and the checkpoint's log stays in order.

With a checkpoint, sources that plan ahead and sinks only, the scheduler hands batch
n's commit (the sinks, then its commit record) to the plan-log thread and runs batch
n+1's tasks meanwhile. That thread writes the log in order and stops at a failure:
plan n, commit n, plan n+1. These tests check the order a sink sees, that a failed
commit leaves nothing of the next batch in the log, and that its restart converges.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.connectors.queue import MemorySink, MemorySinkConfig
from etlcore.scheduler import NO_COMMIT_BEHIND


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
            "next_plan": (self.ckpt / "plans" / f"{n + 1:012d}.json").exists(),
        })
        if n == self.fail_at:
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
    # every commit after its own plan and the previous commit record, before the next plan
    assert all(s["plan"] and s["previous_commit"] and not s["next_plan"] for s in probe.seen)
    assert len(MemorySink.results("behind")) == 60


def test_the_switch_commits_in_line(tmp_path, monkeypatch):
    monkeypatch.setenv(NO_COMMIT_BEHIND, "1")
    ckpt = tmp_path / "ckpt"
    MemorySink.clear("in-line")
    probe = _LogProbe("in-line", ckpt)
    _job(ckpt, probe).run(until_idle=True)
    assert probe.seen and all(s["main"] for s in probe.seen)
    assert len(MemorySink.results("in-line")) == 60


def test_a_failed_commit_behind_ends_the_log_and_the_restart_converges(tmp_path):
    ckpt = tmp_path / "ckpt"
    MemorySink.clear("behind-fail")
    with pytest.raises(OSError, match="refused batch 2"):
        _job(ckpt, _LogProbe("behind-fail", ckpt, fail_at=2)).run(until_idle=True)
    # batch 3's tasks ran while batch 2 committed; nothing after the failure was logged
    assert sorted(p.name for p in (ckpt / "commits").iterdir()) == [
        "000000000000.json", "000000000001.json"]
    assert not (ckpt / "plans" / f"{3:012d}.json").exists()
    assert sorted(MemorySink.batches("behind-fail")) == [0, 1]

    _job(ckpt, _LogProbe("behind-fail", ckpt)).run(until_idle=True)  # replays batch 2
    MemorySink.clear("behind-ref")
    _job(tmp_path / "ref", _LogProbe("behind-ref", tmp_path / "ref")).run(until_idle=True)
    assert MemorySink.results("behind-fail") == MemorySink.results("behind-ref")
    assert len(MemorySink.results("behind-ref")) == 60
