"""The dashboard sink under etlcore's contract kit, one class per panel kind.

What the target "stores" is what the page shows: ``stored`` opens the panel
again on the target's checkpoint (as a restarted job would) and reads it from
the real server's ``/api/state``. Panels are keyed by batch time, so replays
and repeated commits converge: exactly-once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from dashboard_testlib import page_state, panel

from etlcore.contract import REMOVE, SinkContract
from etlcore.sink import Sink, SinkContext


class DashboardContract(SinkContract):
    plugin_name = "dashboard"
    delivery = "exactly-once"
    panel_config: ClassVar[dict[str, Any]] = {}

    def config(self, path: Path) -> dict[str, Any]:
        return {**self.panel_config, "port": 0}

    def shown(self, view: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def stored(self, sink: Sink, target: Any) -> list[Any]:
        """The panel as the page serves it after a restart on the target's checkpoint."""
        reader = self.build(target.config)
        reader.open(SinkContext(self.name, self.job_name, target.checkpoint))
        try:
            view = panel(page_state(reader.url), f"{self.job_name}/{self.name}")
        finally:
            reader.close()
        return self.shown(view)

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"panel": REMOVE}, "panel"), ({"port": -1}, "port"), ({"agg": "p99"}, "agg")]


class TestLinePanel(DashboardContract):
    panel_config: ClassVar[dict[str, Any]] = {"panel": "line", "value": "n"}

    def sample_records(self) -> list[Any]:
        return [{"n": i, "name": f"r{i}"} for i in range(1, 8)]

    def bad_records(self) -> list[Any]:
        return [{"name": "no number"}, {"n": "7"}, {"n": float("inf")}]

    def shown(self, view: dict[str, Any]) -> list[Any]:
        return [[x, y] for x, y in zip(view["x"], view["y"], strict=True)]


class TestBarPanel(DashboardContract):
    panel_config: ClassVar[dict[str, Any]] = {"panel": "bar", "key": "tag", "value": "count",
                                              "top": 3}

    def sample_records(self) -> list[Any]:
        return [{"tag": f"#t{i % 4}", "count": i} for i in range(10)]

    def bad_records(self) -> list[Any]:
        return [{"count": 3}, {"tag": "#x", "count": None}]

    def shown(self, view: dict[str, Any]) -> list[Any]:
        return [view["time"], *([k, v] for k, v in zip(view["keys"], view["values"], strict=True))]


class TestTablePanel(DashboardContract):
    panel_config: ClassVar[dict[str, Any]] = {"panel": "table", "rows": 50}

    def sample_records(self) -> list[Any]:
        return [{"id": i, "text": f"<b>row {i}</b>"} for i in range(9)]

    def shown(self, view: dict[str, Any]) -> list[Any]:
        return [dict(zip(view["columns"], row, strict=True)) for row in view["rows"]]


class TestNumberPanel(DashboardContract):
    panel_config: ClassVar[dict[str, Any]] = {"panel": "number", "agg": "max"}

    def sample_records(self) -> list[Any]:
        return [3, 1, 4, 1, 5, 9, 2, 6]

    def bad_records(self) -> list[Any]:
        return ["nine", [9]]

    def shown(self, view: dict[str, Any]) -> list[Any]:
        return [view["time"], view["text"]]
