"""Fixtures of the cassandra plugin tests: the harness's real Cassandra node, plus helpers.

The service fixtures (``cassandra_contact``, ``cassandra_session``, ``cassandra_keyspace``,
``restart_service``) come from the pytest plugin ``tests/services/fixtures``, registered
here when ``tests/conftest.py`` has not done so. A server that cannot be started fails the
tests; they are never skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the harness's `tests.services` package imports
    sys.path.insert(0, _ROOT)
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # cassandra_testlib
    sys.path.insert(0, _HERE)

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
)


@pytest.fixture
def base_config(cassandra_contact: str, cassandra_keyspace: str) -> dict[str, Any]:
    """Sink settings for the local node and the session's keyspace; add table and schema."""
    host, _, port = cassandra_contact.rpartition(":")
    return {"contact_points": [host], "port": int(port), "keyspace": cassandra_keyspace,
            "consistency": "ONE", "retry_for": 60.0, "protocol_version": 5}
