"""Fixtures of the twitter plugin tests: the stand-in server and fresh registries."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from etlcore_twitter.standin import StandinServer

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so the repository's `tests.services` package imports
    sys.path.insert(0, _ROOT)

from tests.services.plugin_setup import _fresh_state  # noqa: E402,F401 - autouse fixture


@pytest.fixture
def standin() -> Iterator[Callable[..., StandinServer]]:
    """``standin(**settings)``: a started stand-in (fast keep-alives), stopped after the test."""
    servers: list[StandinServer] = []

    def make(**settings: Any) -> StandinServer:
        server = StandinServer(**{"keepalive": 0.2, "backfill_minute": 30.0, **settings})
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()
