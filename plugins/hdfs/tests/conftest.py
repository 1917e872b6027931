"""Fixtures for the HDFS plugin's tests: a MiniDFSCluster through the service harness.

The service fixtures (``hdfs_server``, ``hdfs_client``, ``hdfs_service``,
``hdfs_dir_factory``) come from the pytest plugin
``tests/services/fixtures``, registered here when ``tests/conftest.py`` has not done so
(``pytest_plugins`` is refused in a conftest below the rootdir).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
def hdfs_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Connection settings of the ``hdfs`` source and sink for the harness's cluster."""
    return {"user": request.getfixturevalue("hdfs_server").user}


@pytest.fixture
def hdfs_url(request: pytest.FixtureRequest) -> Any:
    """``url(path) -> "hdfs://127.0.0.1:9870" + path`` for a path from hdfs_dir_factory."""
    base = request.getfixturevalue("hdfs_server").url
    return lambda path: base + path


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import etlcore from this checkout."""
    return child_env(REPO, REPO / "plugins" / "hdfs")
