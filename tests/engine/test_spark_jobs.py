"""How many Spark jobs a batch costs: a job has a fixed cost (60-170 ms on local[2] here)
that no amount of work per record wins back, so the spark runner keeps the count down.

- a source stage and the reduce stage its shuffle feeds run as one job (``run_chain``);
- a stage whose tasks read nothing (an empty batch) runs on the driver, no job; so does
  the reduce stage of such a chain when its state travels with its tasks;
- with ``driver_records=N`` a batch of at most N records the driver holds runs there too.

Counts come from Spark's status tracker for the runner's own job group; outputs are
compared with the local runner's, so fewer jobs never means other results.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.runners.spark import SparkRunner
from etlcore.stream import Stream

pytestmark = pytest.mark.services

_names = itertools.count()
BATCHES = [["a b c a", "b"], [], ["c c", "d"], ["a"], []]


def run(build: Callable[[StreamingContext], Stream], runner: Any) -> dict[int, list[Any]]:
    name = f"spark-jobs-{next(_names)}"
    # one queued batch a batch (no catch-up): the job counts are per batch
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2,
                           catch_up=False)
    build(ctx).sink("memory", name=name)
    try:
        ctx.run(batches=len(BATCHES))
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


def running_counts(ctx: StreamingContext) -> Stream:
    words = ctx.queue_stream(BATCHES).flat_map(str.split).map(lambda w: (w, 1))
    return words.update_state_by_key(lambda new, old: (old or 0) + sum(new))


def upper(ctx: StreamingContext) -> Stream:
    return ctx.queue_stream(BATCHES).map(str.upper)


def jobs(spark_context: Any, runner: SparkRunner) -> int:
    return len(spark_context.statusTracker().getJobIdsForGroup(runner._group))


def test_a_source_and_its_stateful_reduce_run_as_one_job_per_batch(spark_context):
    want = run(running_counts, "local")
    runner = SparkRunner(context=spark_context)
    got = run(running_counts, runner)
    assert got == want
    assert sum(len(v) for v in want.values()) > 5
    # the batches with input run map and reduce in one job; the empty ones run on the
    # driver, reduce side too (its state came from the driver with the tasks)
    assert jobs(spark_context, runner) == sum(1 for b in BATCHES if b)


def test_small_batches_run_on_the_driver_when_asked(spark_context):
    want = run(running_counts, "local")
    runner = SparkRunner(context=spark_context, driver_records=2)
    got = run(running_counts, runner)
    assert got == want
    # ["a b c a", "b"] holds two records, ["c c", "d"] two, ["a"] one: no Spark job
    assert jobs(spark_context, runner) == 0
    runner = SparkRunner(context=spark_context, driver_records=1)
    assert run(running_counts, runner) == want
    assert jobs(spark_context, runner) == 2  # the two batches of two records


def test_an_empty_batch_runs_no_spark_job(spark_context):
    want = run(upper, "local")
    runner = SparkRunner(context=spark_context)
    got = run(upper, runner)
    assert got == want
    assert jobs(spark_context, runner) == sum(1 for b in BATCHES if b)


def test_state_kept_on_spark_survives_snapshots_and_a_restart(spark_context, tmp_path):
    """A stateful reduce chained to its source, no sink, ``keep_state=True``: Spark keeps
    the state between batches (a cached RDD); snapshot batches bring it to the driver's checkpoint, and a
    restarted job resumes from there as an uninterrupted local run does."""

    def run_counts(runner: Any, batches: int, checkpoint: str) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = {}
        ctx = StreamingContext(1.0, clock="manual", name="kept-state", runner=runner,
                               parallelism=2, checkpoint=checkpoint, checkpoint_interval=3,
                               max_rate_per_partition=40)
        src = ctx.source("generator", kind="clicks", seed=3, rate=1e6, partitions=2,
                         limit=600, start_time=1_700_000_000.0)
        (src.map(lambda r: (r["user_id"], 1))
            .update_state_by_key(lambda new, old: (old or 0) + sum(new))
            .foreach_batch(lambda batch_id, rows: out.__setitem__(batch_id, sorted(rows))))
        ctx.run(batches=batches)
        return out

    want = run_counts("local", 8, str(tmp_path / "local"))
    runner = SparkRunner(context=spark_context, keep_state=True)
    first = run_counts(runner, 4, str(tmp_path / "spark"))
    assert not runner._kept  # stop() let go of the cached RDDs
    rest = run_counts(SparkRunner(context=spark_context, keep_state=True), 4,
                      str(tmp_path / "spark"))
    assert {**first, **rest} == want
    assert len(want) == 8 and all(want.values())
