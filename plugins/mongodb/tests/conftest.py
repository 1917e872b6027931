"""Fixtures of the mongodb plugin tests: the harness's real FerretDB, plus helpers.

The service fixtures (``mongodb_uri``, ``mongodb_client``, ``mongodb_database``) come from
the pytest plugin ``tests/services/fixtures.py``, registered here when ``tests/conftest.py``
has not done so. A server that cannot be started fails the tests; they are never skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import reset_registry

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the harness's `tests.services` package imports
    sys.path.insert(0, _ROOT)

SERVICES = "tests.services.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(SERVICES):
        return
    module = sys.modules.get(SERVICES)  # imported already by another plugin's conftest
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
