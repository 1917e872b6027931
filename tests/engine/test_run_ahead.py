"""Running ahead: batch n+1's tasks go to the workers before batch n commits.

The processes runner takes them while the driver files and commits n. What a
job commits must not change: the same batches, in order, as the local runner;
a stop, an operator error or a dying worker with two batches in flight leaves
nothing of the later batch committed or lost. Jobs whose next batch depends on
the last commit (a checkpoint, rate control, state) keep the old order.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.connectors.queue import MemorySink
from etlcore.errors import StopJob
from etlcore.metrics import BatchMetrics
from etlcore.runners.processes import ProcessRunner
from etlcore.sink import CollectingSink
from etlcore.source import OffsetSource, SourceReader

BATCHES = 6
PER_BATCH = 50  # records per partition per batch


class Counter(OffsetSource):
    """Two partitions of ints, ``PER_BATCH`` a batch each, ``BATCHES`` batches long."""

    plans_ahead = True
    rejects = False

    def partitions(self) -> list[str]:
        return ["0", "1"]

    def available(self, partition: str) -> int:
        return BATCHES * PER_BATCH

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        end = min(self.available(partition), start + PER_BATCH)
        return end if max_records is None else min(end, start + max_records)

    def reader(self) -> SourceReader:
        return CounterReader()


class CounterReader(SourceReader):
    def read(self, partition: str, start: int, end: int) -> list[int]:
        return [int(partition) * 100_000 + i for i in range(start, end)]


class Recording(CollectingSink):
    """Keeps what each batch committed and which batches were aborted (on the driver)."""

    def __init__(self) -> None:
        self.committed: dict[int, list[Any]] = {}
        self.aborted: list[tuple[int, int]] = []  # (batch, records its writers returned)

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        self.committed[batch.batch_id] = list(records)

    def abort(self, batch: BatchInfo, messages: list[Any]) -> None:
        self.aborted.append((batch.batch_id, sum(len(m) for m in messages)))


def _job(runner: Any, fn: Any = lambda x: x * 2, **options: Any
         ) -> tuple[StreamingContext, Recording, list[bool]]:
    """The job, its sink, and per finished batch whether the next one was already started."""
    ctx = StreamingContext(1.0, clock="manual", name="ahead", runner=runner, **options)
    sink = Recording()
    ctx.stream(Counter(), name="counter").map(fn).to(sink, name="recording")
    started_ahead: list[bool] = []

    def seen(metrics: BatchMetrics) -> None:
        scheduler = ctx._scheduler
        assert scheduler is not None
        ahead = scheduler._ahead
        started_ahead.append(ahead is not None
                             and ahead.plan.batch_id == metrics.batch_id + 1)

    ctx.add_listener(seen)
    return ctx, sink, started_ahead


def test_batches_run_ahead_commit_what_the_local_runner_commits_in_order():
    ctx, want, _ = _job("local")
    ctx.run(until_idle=True)
    ctx, got, ahead = _job(ProcessRunner(workers=2))
    ctx.run(until_idle=True)
    assert list(got.committed) == list(want.committed) == list(range(BATCHES + 1))
    assert got.committed == want.committed
    # every non-empty batch had the next one out before it committed; the empty
    # last one (until_idle stops there) started nothing
    assert ahead == [True] * BATCHES + [False]
    assert got.aborted == []


def test_a_run_of_n_batches_starts_no_batch_beyond_them():
    ctx, sink, ahead = _job(ProcessRunner(workers=2))
    ctx.run(batches=3)
    assert list(sink.committed) == [0, 1, 2]
    assert ahead == [True, True, False]
    assert sink.aborted == []


def test_stop_job_commits_its_batch_and_aborts_the_one_started_ahead():
    ctx = StreamingContext(1.0, clock="manual", name="ahead-stop",
                           runner=ProcessRunner(workers=2))
    sink = Recording()
    stream = ctx.stream(Counter(), name="counter").map(lambda x: x + 1)
    stream.to(sink, name="recording")

    def stop_at_2(batch_id: int, records: list[Any]) -> None:
        if batch_id == 2:
            raise StopJob

    stream.foreach_batch(stop_at_2)
    ctx.run(until_idle=True)
    assert list(sink.committed) == [0, 1, 2]
    assert sink.aborted == [(3, 2 * PER_BATCH)]  # its writers ran; nothing of it committed


def test_an_operator_error_in_a_later_batch_leaves_the_earlier_ones_committed():
    def fail_in_batch_3(x: int) -> int:
        if x % 100_000 == 3 * PER_BATCH:  # the first record of batch 3
            raise ValueError("bad record")
        return x

    ctx, sink, _ = _job(ProcessRunner(workers=2), fail_in_batch_3)
    with pytest.raises(ValueError, match="bad record"):
        ctx.run(until_idle=True)
    assert list(sink.committed) == [0, 1, 2]
    # the pool goes on: the next job on a new runner of the same size takes it over
    ctx, sink, _ = _job(ProcessRunner(workers=2))
    ctx.run(batches=2)
    assert list(sink.committed) == [0, 1]


def test_a_worker_killed_with_two_batches_in_flight_loses_and_doubles_nothing(tmp_path):
    marker = tmp_path / "killed"

    def die_once(x: int, marker: Path = marker) -> int:
        if x == 2 * PER_BATCH + 10 and not marker.exists():  # partition 0, batch 2
            marker.write_text(str(os.getpid()))  # its retry finds the marker and goes on
            os.kill(os.getpid(), signal.SIGKILL)
        return x * 2

    ctx, want, _ = _job("local")
    ctx.run(until_idle=True)
    runner = ProcessRunner(workers=2)
    ctx, got, _ = _job(runner, die_once)
    ctx.run(until_idle=True)
    assert marker.exists(), "the test's worker kill never happened"
    assert runner.restarts == 1
    assert got.committed == want.committed


def _totals_by_batch(runner: Any, window: bool = False) -> tuple[dict[int, Any], list[bool]]:
    """A word-count-shaped job: a keyed combine whose reduce runs on the driver into
    ``foreach_batch``; per batch its rows, and whether the next batch was out before it
    committed."""
    ctx = StreamingContext(1.0, clock="manual", name="ahead-count", runner=runner,
                           parallelism=2)
    stream = ctx.stream(Counter(), name="counter").map(lambda x: x % 7)
    if window:  # batch n's window needs batch n-1's records: learnt on the driver
        stream = stream.window(2)
    rows: dict[int, Any] = {}
    stream.count_by_value().foreach_batch(lambda b, r: rows.setdefault(b, sorted(r)))
    ahead: list[bool] = []
    ctx.add_listener(lambda m: ahead.append(ctx._scheduler._ahead is not None))  # type: ignore[union-attr]
    ctx.run(until_idle=True)
    return rows, ahead


def test_a_keyed_combine_merged_on_the_driver_runs_ahead_with_the_local_answer():
    want, _ = _totals_by_batch("local")
    got, ahead = _totals_by_batch(ProcessRunner(workers=2))
    assert got == want and len(want) == BATCHES + 1
    assert ahead == [True] * BATCHES + [False]
    # an operator that learns from the batch before keeps the old order
    want, _ = _totals_by_batch("local", window=True)
    got, ahead = _totals_by_batch(ProcessRunner(workers=2), window=True)
    assert got == want
    assert not any(ahead)


def test_stop_job_in_the_driver_merge_leaves_the_batch_started_ahead_unseen():
    ctx = StreamingContext(1.0, clock="manual", name="ahead-count-stop",
                           runner=ProcessRunner(workers=2), parallelism=2)
    seen: list[int] = []

    def stop_at_2(batch_id: int, rows: list[Any]) -> None:
        seen.append(batch_id)
        if batch_id == 2:
            raise StopJob

    ctx.stream(Counter(), name="counter").map(lambda x: x % 7).count_by_value().foreach_batch(
        stop_at_2)
    ctx.run(until_idle=True)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("why", ["checkpoint", "rate control", "state", "env"])
def test_jobs_whose_next_batch_depends_on_the_last_commit_keep_the_old_order(
        why, tmp_path, monkeypatch):
    options: dict[str, Any] = {}
    if why == "checkpoint":
        options["checkpoint"] = str(tmp_path / "ckpt")
    elif why == "rate control":
        options["max_rate_per_partition"] = 1000
    elif why == "env":
        monkeypatch.setenv("ETLCORE_NO_RUN_AHEAD", "1")
    ctx = StreamingContext(1.0, clock="manual", name=f"ahead-{why}",
                           runner=ProcessRunner(workers=2), parallelism=2, **options)
    stream = ctx.stream(Counter(), name="counter")
    if why == "state":
        stream = stream.map(lambda x: (x % 3, 1)).reduce_by_key("sum")
    stream.sink("memory", name=f"ahead-{why}")
    ahead: list[bool] = []
    ctx.add_listener(lambda m: ahead.append(ctx._scheduler._ahead is not None))  # type: ignore[union-attr]
    try:
        ctx.run(batches=3)
        assert sorted(MemorySink.batches(f"ahead-{why}")) == [0, 1, 2]
    finally:
        MemorySink.clear(f"ahead-{why}")
    assert ahead == [False, False, False]
