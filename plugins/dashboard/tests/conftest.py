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

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the harness's `tests.services` package imports
    sys.path.insert(0, _ROOT)

from tests.services.plugin_setup import (  # noqa: E402 - needs _ROOT on sys.path
    fresh_plugin_state,
    register_services,
)


def pytest_configure(config: pytest.Config) -> None:
    register_services(config)


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Entry points loaded anew (this plugin included) and empty memory sinks."""
    yield from fresh_plugin_state(monkeypatch)



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
