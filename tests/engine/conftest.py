"""Runners for parametrized tests: the same job on local, processes and a real Spark cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from etlcore.runners.processes import ProcessRunner

RUNNER_NAMES = ["local", "processes", "spark"]


@pytest.fixture(scope="session")
def spark_context(spark_master: Any) -> Iterator[Any]:
    """One Spark driver for the session, on the standalone cluster the harness started."""
    from pyspark import SparkContext

    sc = SparkContext(conf=spark_master.conf("etlcore-tests", **{"spark.task.maxFailures": "4"}))
    sc.setLogLevel("ERROR")
    try:
        yield sc
    finally:
        sc.stop()


def make_runner(name: str, request: pytest.FixtureRequest) -> Any:
    if name == "local":
        return "local"
    if name == "processes":
        return ProcessRunner(workers=2)
    from etlcore.runners.spark import SparkRunner

    return SparkRunner(context=request.getfixturevalue("spark_context"))


@pytest.fixture(params=RUNNER_NAMES)
def runner(request: pytest.FixtureRequest) -> Any:
    return make_runner(request.param, request)
