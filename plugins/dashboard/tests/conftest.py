"""Fixtures of the dashboard plugin tests: fresh registries and the browser.

The service fixtures (``spark_master``) come from the pytest plugin
``tests/services/fixtures.py``, registered here when ``tests/conftest.py`` has not done so.
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



@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian's packages, driven by selenium; one for the session.

    The performance log records the page's network events (CDP), so a test can
    list every request the page made.
    """
    from dashboard_testlib import chrome

    driver = chrome()
    yield driver
    driver.quit()
