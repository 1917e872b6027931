"""Fixtures for the HBase plugin's tests: the real server through the service harness.

The harness fixtures live in the repository's ``tests/services/fixtures.py``;
they are imported here (not via ``pytest_plugins``, which pytest refuses in a
nested conftest) so this folder's tests also run on their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from etlcore.contract.crash import child_env

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
for path in (REPO, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.services.fixtures import (  # noqa: E402,F401 - fixtures used by name
    _restart_service_fixture,
    hbase_service,
    hbase_table_factory,
    hbase_thrift,
    spark_context,
    spark_master,
)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import etlcore from this checkout."""
    return child_env(REPO, REPO / "plugins" / "hbase")


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    """Plugins load from entry points; start each test from a clean registry."""
    from etlcore.plugin.registry import reset_registry

    reset_registry()
