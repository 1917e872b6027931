"""Smoke tests: the harness's Spark standalone cluster (two Workers) runs PySpark jobs in
its Workers, and a job survives losing a Worker mid-run."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.services.fixtures.spark import SparkCluster

if TYPE_CHECKING:
    from pyspark import SparkContext

pytestmark = pytest.mark.services


@pytest.fixture
def sc(spark_context: SparkContext) -> SparkContext:
    """The session's shared driver (one SparkContext per process)."""
    return spark_context


def _executors(sc: SparkContext) -> int:
    """Executors registered with the driver (the driver's own block manager excluded)."""
    return int(sc._jsc.sc().getExecutorMemoryStatus().size()) - 1  # type: ignore[union-attr]


def _wait(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_job_runs_on_the_harness_workers(sc: SparkContext, spark_master: SparkCluster) -> None:
    assert spark_master.url == os.environ["ETLCORE_SPARK_MASTER"]
    assert spark_master.alive_workers() == 2
    _wait("2 executors", lambda: _executors(sc) == 2)
    assert sc.parallelize(range(1000), 4).map(lambda x: x * 2).sum() == 999000
    # An executor's Python runs in <state>/work/worker-<i>/<app-id>/<executor-id>. Both
    # Workers are ALIVE and the app has two executors; after an earlier test killed a Worker
    # (the shared driver outlives it) both may sit on the Worker that had room, so the test
    # asks only that every task ran in a harness Worker's work dir.
    cwds = sc.parallelize(range(8), 8).map(lambda _: os.getcwd()).collect()
    assert {Path(c).parts[-3] for c in cwds} <= {"worker-0", "worker-1"}
    assert all(Path(c).is_relative_to(spark_master.service.state_dir()) for c in cwds)


def test_job_survives_worker_loss(sc: SparkContext, spark_master: SparkCluster) -> None:
    _wait("2 executors", lambda: _executors(sc) == 2)
    tracker = sc.statusTracker()
    result: dict[str, object] = {}

    def slow(x: int) -> int:  # nested: cloudpickle ships it by value, not by module name
        time.sleep(0.3)
        return x

    def job() -> None:
        try:
            result["sum"] = sc.parallelize(range(12), 12).map(slow).sum()
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=job)
    thread.start()
    try:
        _wait(
            "tasks running",
            lambda: (
                "error" in result
                or any(
                    (info := tracker.getStageInfo(s)) is not None and info.numCompletedTasks >= 2
                    for s in tracker.getActiveStageIds()
                )
            ),
        )
        spark_master.kill_worker(1)  # with its executor and the tasks running there
        assert thread.is_alive(), "the job ended before the worker was killed"
        thread.join(60)
        assert not thread.is_alive(), "job still running 60 s after a worker was killed"
        assert result == {"sum": sum(range(12))}
        _wait("master to drop the worker", lambda: spark_master.alive_workers() == 1)

        took = spark_master.restart_worker(1)
        assert took < 30
        assert spark_master.alive_workers() == 2
        _wait("a new executor on the restarted worker", lambda: _executors(sc) == 2)
        assert sc.parallelize(range(100), 4).sum() == 4950
    finally:
        thread.join(60)
        spark_master.ensure_workers()
