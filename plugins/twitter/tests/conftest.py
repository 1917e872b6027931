"""Fixtures of the twitter plugin tests: the stand-in server and fresh registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from etlcore_twitter.standin import StandinServer

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
