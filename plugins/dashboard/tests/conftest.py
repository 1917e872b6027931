"""Fixtures of the dashboard plugin tests: fresh registries, a page kept up, the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import reset_registry


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
