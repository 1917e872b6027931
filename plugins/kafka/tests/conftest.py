"""Fixtures for the Kafka plugin's tests: the real broker through the service harness.

The harness fixtures live in the repository's ``tests/services/fixtures.py``;
they are imported here (not via ``pytest_plugins``, which pytest refuses in a
nested conftest) so this folder's tests also run on their own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from etlcore.contract.crash import child_env

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.services.fixtures import (  # noqa: E402,F401 - fixtures used by name
    _restart_service_fixture,
    kafka_admin,
    kafka_bootstrap,
    kafka_topic_factory,
    spark_master,
)


@pytest.fixture
def topics(kafka_topic_factory: Callable[..., str]) -> Callable[..., str]:  # noqa: F811
    """``topics(partitions=1)`` -> a fresh topic name, deleted after the test."""
    return kafka_topic_factory


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import etlcore from this checkout."""
    return child_env(REPO)


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    """Plugins load from entry points; start each test from a clean registry."""
    from etlcore.plugin.registry import reset_registry

    reset_registry()
