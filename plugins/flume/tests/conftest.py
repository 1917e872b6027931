"""Fixtures of the flume plugin tests: Flume agents from the service harness.

The service fixture ``flume_agent`` comes from the pytest plugin ``tests/services/fixtures.py``, registered here when
``tests/conftest.py`` has not done so (``pytest_plugins`` is refused in a conftest below the
rootdir). A server that cannot be started fails the tests; they are never skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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
