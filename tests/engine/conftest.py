"""Runners for parametrized tests: the same job on local, processes and a real Spark cluster."""

from __future__ import annotations

from typing import Any

import pytest

from etlcore.runners.processes import ProcessRunner

RUNNER_NAMES = ["local", "processes", "spark"]


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
