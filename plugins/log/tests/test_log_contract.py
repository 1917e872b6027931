"""The log sink under etlcore's contract kit.

Logging cannot be taken back, so the sink is at-least-once: a replayed batch
is logged again, marked ``(replay)``; the kit checks that nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etlcore.contract import SinkContract, Target, unique_name
from etlcore.plugin.registry import reset_registry
from etlcore.sink import Sink


class TestLogSink(SinkContract):
    plugin_name = "log"
    delivery = "at-least-once"

    @pytest.fixture(autouse=True)
    def _logs(self, caplog: pytest.LogCaptureFixture,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
        monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
        reset_registry()
        self.caplog = caplog
        yield
        reset_registry()

    def config(self, path: Path) -> dict[str, Any]:
        logger = unique_name("contract.log")  # one logger per target
        self.caplog.set_level(logging.INFO, logger=logger)
        return {"logger": logger, "limit": None}

    def sample_records(self) -> list[Any]:
        return ["a", {"b": 2}, ("c", 3), 4, None]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """The target's log lines, a replay's ``(replay)`` mark aside."""
        return [r.getMessage().replace(" (replay)", "") for r in self.caplog.records
                if r.name == target.config["logger"]]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"level": "LOUD"}, "level"), ({"limit": -1}, "limit")]
