"""Fixtures running every kernel test against both implementations.

The compiled twin of each reference module must behave identically (faust's
parity test exists because twins drift); these fixtures make that the
default shape of a test rather than an afterthought.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "etlcore-fast",
    max_examples=int(__import__("os").environ.get("ETLCORE_HYPOTHESIS_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("etlcore-fast")

IMPLS = ["ref", "c"]


def load(kernel: str, impl: str) -> ModuleType:
    """Import ``etlcore._fast.<kernel>_<impl>`` directly, bypassing the selector."""
    return importlib.import_module(f"etlcore._fast.{kernel}_{impl}")


@pytest.fixture(params=IMPLS)
def partition(request: pytest.FixtureRequest) -> ModuleType:
    return load("partition", request.param)


@pytest.fixture(params=IMPLS)
def hashagg(request: pytest.FixtureRequest) -> ModuleType:
    return load("hashagg", request.param)


@pytest.fixture(params=IMPLS)
def window(request: pytest.FixtureRequest) -> ModuleType:
    return load("window", request.param)


@pytest.fixture(params=IMPLS)
def session(request: pytest.FixtureRequest) -> ModuleType:
    return load("session", request.param)
