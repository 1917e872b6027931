"""The plan is logged beside the batch's tasks: a driver killed in that window converges.

The scheduler writes a batch's plan on a background thread while its tasks run
and waits for it only before the commit (when every sink allows it:
``Sink.plan_before_write``). A driver killed after the tasks wrote but before
the plan was durable leaves no plan for the batch, so the restarted driver plans
it anew, here with another rate bound: other ranges under the same batch id. The
stored output must still hold every input record exactly once.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.checkpoint import Checkpoint
from etlcore.connectors.queue import MemorySink, MemorySinkConfig
from etlcore.scheduler import KILL_BEFORE_PLAN_DURABLE
from etlcore.sink import Sink, SinkWriter
from tests.exactly_once.helpers import JOBS, ROOT, check_exit, part_files, table

KILLED_BATCH = 3


def run_job(ckpt: Path, out: Path, **env: str) -> int:
    """Run overlap_job.py to its end (or its death); its return code."""
    full = {**os.environ, **env}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, str(JOBS / "overlap_job.py"), str(ckpt), str(out)],
                            env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.wait(timeout=120) != -signal.SIGKILL:
        check_exit(proc)
    return proc.returncode


def stored(out: Path) -> dict[str, Counter[str]]:
    files = [json.dumps(r, sort_keys=True) for recs in part_files(out / "files").values()
             for r in recs]
    rows = [json.dumps(list(r)) for r in table(out / "out.db", "clicks", "rowid")]
    return {"files": Counter(files), "rows": Counter(rows)}


def test_driver_killed_before_the_plan_is_durable_converges(tmp_path):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    code = run_job(ckpt, out, OVERLAP_BOUND="10", **{KILL_BEFORE_PLAN_DURABLE: str(KILLED_BATCH)})
    assert code == -signal.SIGKILL, "the hook did not kill the driver"
    # the kill landed in the window: batch 3's writers ran, its plan is not on disk
    batch_dir = out / "files" / f"batch-{KILLED_BATCH:012d}"
    assert sorted(p.name for p in batch_dir.iterdir()) == [
        ".part-00000.jsonl.tmp", ".part-00001.jsonl.tmp"]
    assert not (ckpt / "plans" / f"{KILLED_BATCH:012d}.json").exists()
    assert (ckpt / "commits" / f"{KILLED_BATCH - 1:012d}.json").exists()

    assert run_job(ckpt, out, OVERLAP_BOUND="7") == 0  # the restart plans batch 3 anew
    plan = json.loads((ckpt / "plans" / f"{KILLED_BATCH:012d}.json").read_bytes())
    (ranges,) = plan["ranges"].values()  # the one source's partitions
    assert {p: end - start for p, (start, end) in ranges.items()} == {"0": 7, "1": 7}

    run_job(tmp_path / "ref-ckpt", tmp_path / "ref", OVERLAP_BOUND="10")
    got, want = stored(out), stored(tmp_path / "ref")
    assert sum(want["rows"].values()) == 240 and max(want["rows"].values()) == 1
    assert got["rows"] == want["rows"]  # append mode: a record stored twice shows twice
    assert got["files"] == want["files"]


class _PlanSeen(SinkWriter):
    """Returns whether the batch's plan was on disk when this writer ran."""

    def __init__(self, ckpt: Path):
        self.ckpt = ckpt

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        return (self.ckpt / "plans" / f"{batch.batch_id:012d}.json").exists()


class _TaskSideSink(Sink):
    """A sink whose writers would store from the tasks: keeps the plan-first order."""

    def __init__(self, ckpt: Path):
        self.ckpt = ckpt
        self.seen: list[bool] = []

    def writer(self) -> SinkWriter:
        return _PlanSeen(self.ckpt)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        self.seen.extend(messages)


def _job(ckpt: Path, name: str) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="overlap",
                           max_rate_per_partition=5)
    clicks = ctx.source("generator", kind="clicks", seed=3, rate=1000, partitions=2,
                        limit=30, start_time=1_700_000_000.0)
    clicks.map(lambda r: r["ts"]).to(MemorySink(MemorySinkConfig(name)), name="memory")
    return ctx


def test_a_sink_that_stores_from_tasks_sees_its_plan_on_disk_first(tmp_path):
    ckpt = tmp_path / "ckpt"
    ctx = _job(ckpt, "overlap-first")
    sink = _TaskSideSink(ckpt)
    ctx.source("generator", kind="clicks", seed=4, rate=1000, partitions=1, limit=20,
               start_time=1_700_000_000.0).to(sink, name="probe")
    ctx.run(until_idle=True)
    assert len(sink.seen) >= 4 and all(sink.seen)


def test_a_plan_that_cannot_be_written_fails_the_batch_before_anything_is_visible(
        tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    write_plan = Checkpoint.write_plan

    def full_disk(self: Checkpoint, plan: Any) -> None:
        if plan.batch_id == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        write_plan(self, plan)

    MemorySink.clear("overlap-fail")
    monkeypatch.setattr(Checkpoint, "write_plan", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _job(ckpt, "overlap-fail").run(until_idle=True)
    assert sorted(MemorySink.batches("overlap-fail")) == [0, 1]  # batch 2 ran, never stored
    assert sorted(p.name for p in (ckpt / "commits").iterdir()) == [
        "000000000000.json", "000000000001.json"]

    monkeypatch.setattr(Checkpoint, "write_plan", write_plan)
    _job(ckpt, "overlap-fail").run(until_idle=True)
    MemorySink.clear("overlap-ref")
    _job(tmp_path / "ref", "overlap-ref").run(until_idle=True)
    assert MemorySink.results("overlap-fail") == MemorySink.results("overlap-ref")
    assert len(MemorySink.results("overlap-ref")) == 60
