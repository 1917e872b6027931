"""A Spark worker JVM killed mid-batch: Spark retries its tasks, the output is unchanged."""

from __future__ import annotations

import threading
import time

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.runners.spark import SparkRunner

pytestmark = pytest.mark.services

BATCHES = [[f"k{(i * 7 + j) % 13} k{j % 5}" for i in range(200)] for j in range(12)]


def job(ctx: StreamingContext, name: str) -> None:
    def slow_split(line: str) -> list[str]:
        time.sleep(0.001)  # batches long enough for the kill to land inside one
        return line.split()

    (ctx.queue_stream(BATCHES).flat_map(slow_split).map(lambda w: (w, 1))
        .reduce_by_key("sum").update_state_by_key(lambda new, old: (old or 0) + sum(new))
        .sink("memory", name=name))


def run(name: str, runner: object, listener=None) -> dict[int, list[object]]:
    # one queued batch a batch (no catch-up): the kill lands in batch 2 of 12
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2,
                           catch_up=False)
    if listener is not None:
        ctx.add_listener(listener)
    job(ctx, name)
    try:
        ctx.run(batches=len(BATCHES))
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


def test_a_killed_spark_worker_costs_a_retry_not_data(spark_master, spark_context):
    want = run("spark-kill-ref", "local")
    killed = threading.Event()

    def kill_during_batch_2(metrics) -> None:
        if metrics.batch_id == 1 and not killed.is_set():
            killed.set()
            # batch 2 starts right after this listener returns; the kill lands in it
            threading.Timer(0.15, spark_master.kill_worker, args=(0,)).start()

    try:
        got = run("spark-kill", SparkRunner(context=spark_context), kill_during_batch_2)
    finally:
        spark_master.restart_worker(0)
    assert killed.is_set()
    assert got == want
