"""What the conftests of plugin test suites that use the service harness share.

pytest refuses ``pytest_plugins`` in a conftest below the rootdir, so a plugin's conftest
registers the harness's fixtures itself from its ``pytest_configure``; and every plugin
test starts from freshly loaded entry points and empty memory sinks. A conftest puts the
repository root on ``sys.path`` first, then::

    def pytest_configure(config: pytest.Config) -> None:
        register_services(config)

    @pytest.fixture(autouse=True)
    def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        yield from fresh_plugin_state(monkeypatch)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import reset_registry

SERVICES = "tests.services.fixtures"


def register_services(config: pytest.Config) -> None:
    """Register the harness's fixtures once, unless ``tests/conftest.py`` did already."""
    if config.pluginmanager.has_plugin(SERVICES):
        return
    module = sys.modules.get(SERVICES)  # imported already by another plugin's conftest
    if module is None:
        config.pluginmanager.import_plugin(SERVICES)
    else:
        config.pluginmanager.register(module, SERVICES)


def fresh_plugin_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Entry points loaded anew (the plugin under test included) and empty memory sinks,
    around one test: the body of each conftest's autouse ``_fresh_state`` fixture."""
    monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
    reset_registry()
    MemorySink.clear()
    yield
    MemorySink.clear()
    reset_registry()
