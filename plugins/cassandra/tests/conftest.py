"""Fixtures of the cassandra plugin tests: the harness's real Cassandra node, plus helpers.

The service fixtures (``cassandra_contact``, ``cassandra_session``, ``cassandra_keyspace``,
``restart_service``) come from the pytest plugin ``tests/services/fixtures.py``, registered
here when ``tests/conftest.py`` has not done so. A server that cannot be started fails the
tests; they are never skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import reset_registry

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the harness's `tests.services` package imports
    sys.path.insert(0, _ROOT)
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # cassandra_testlib
    sys.path.insert(0, _HERE)

SERVICES = "tests.services.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(SERVICES):
        return
    module = sys.modules.get(SERVICES)
    if module is None:
        config.pluginmanager.import_plugin(SERVICES)
    else:
        config.pluginmanager.register(module, SERVICES)


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Entry points loaded anew (this plugin included) and empty memory sinks."""
    monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
    reset_registry()
    MemorySink.clear()
    yield
    MemorySink.clear()
    reset_registry()


@pytest.fixture
def base_config(cassandra_contact: str, cassandra_keyspace: str) -> dict[str, Any]:
    """Sink settings for the local node and the session's keyspace; add table and schema."""
    host, _, port = cassandra_contact.rpartition(":")
    return {"contact_points": [host], "port": int(port), "keyspace": cassandra_keyspace,
            "consistency": "ONE", "retry_for": 60.0, "protocol_version": 5}
