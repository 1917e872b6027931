"""Fixtures of the dashboard plugin tests: fresh registries and the browser.

The service fixtures (``spark_master``) come from the pytest plugin
``tests/services/fixtures``, registered here when ``tests/conftest.py`` has not done so.
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

from tests.services.plugin_setup import (  # noqa: E402,F401 - a hook and a fixture
    _fresh_state,
    pytest_configure,
)


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
