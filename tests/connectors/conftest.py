"""Fixtures for connector tests."""

from __future__ import annotations

import itertools

import pytest

from etlcore.connectors.queue import MemorySink

_names = itertools.count()


@pytest.fixture
def sink_name() -> str:
    """A MemorySink name no other test uses."""
    name = f"connectors-{next(_names)}"
    MemorySink.clear(name)
    return name
