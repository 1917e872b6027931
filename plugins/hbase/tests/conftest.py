"""Fixtures for the HBase plugin's tests: the real server through the service harness.

The service fixtures (``hbase_thrift``, ``hbase_service``,
``hbase_table_factory``, ``spark_context``) come from the pytest plugin
``tests/services/fixtures``, registered here when ``tests/conftest.py`` has not done so
(``pytest_plugins`` is refused in a conftest below the rootdir).
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

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import etlcore from this checkout."""
    return child_env(REPO, REPO / "plugins" / "hbase")
