"""The contract kit's pytest plugin, loaded through the ``pytest11`` entry point.

It marks every test of a :class:`~etlcore.contract.SourceContract` or
:class:`~etlcore.contract.SinkContract` subclass with ``contract`` (select them
with ``pytest -m contract``) and offers the ``etlcore_registry`` fixture. The
contract classes work without it; the entry point is named after this
module, so listing it in ``pytest_plugins`` as well is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract: a test from etlcore's connector contract kit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from etlcore.contract.base import ConnectorContract

    for item in items:
        cls = getattr(item, "cls", None)
        if isinstance(cls, type) and issubclass(cls, ConnectorContract):
            item.add_marker("contract")


@pytest.fixture
def etlcore_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The plugin registry built afresh from installed entry points, no env filter."""
    from etlcore.plugin.registry import get_registry, reset_registry

    monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
    reset_registry()
    yield get_registry()
    reset_registry()
