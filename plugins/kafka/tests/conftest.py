"""Fixtures for the Kafka plugin's tests: the real broker through the service harness.

The service fixtures (``kafka_bootstrap``, ``kafka_admin``,
``kafka_topic_factory``, ``spark_master``, ``restart_service``) come from the pytest plugin
``tests/services/fixtures``, registered here when ``tests/conftest.py`` has not done so
(``pytest_plugins`` is refused in a conftest below the rootdir).
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

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
)


@pytest.fixture
def topics(kafka_topic_factory: Callable[..., str]) -> Callable[..., str]:  # noqa: F811
    """``topics(partitions=1)`` -> a fresh topic name, deleted after the test."""
    return kafka_topic_factory


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import etlcore from this checkout."""
    return child_env(REPO)
