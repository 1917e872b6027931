"""What the conftests of plugin test suites share: the harness's fixtures and a fresh start.

pytest refuses ``pytest_plugins`` in a conftest below the rootdir, so a plugin's conftest
registers the harness's fixtures itself from its ``pytest_configure``; and every plugin
test starts from freshly loaded entry points and empty memory sinks. A conftest puts the
repository root on ``sys.path`` first, then takes both by name (pytest finds a hook and a
fixture in a conftest's namespace however they got there)::

    from tests.services.plugin_setup import _fresh_state, pytest_configure  # noqa: F401
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
        config.pluginmanager.consider_module(module)  # its per-service modules


def fresh_plugin_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Entry points loaded anew (the plugin under test included) and empty memory sinks,
    around one test."""
    monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
    reset_registry()
    MemorySink.clear()
    yield
    MemorySink.clear()
    reset_registry()


def pytest_configure(config: pytest.Config) -> None:
    """A plugin conftest's hook: the harness's fixtures for its tests."""
    register_services(config)


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin conftest's autouse fixture: entry points loaded anew (the plugin under test
    included) and empty memory sinks."""
    yield from fresh_plugin_state(monkeypatch)
