"""The ``dashboard`` sink: a stream's results as one live panel of the job's page.

- :class:`PanelWriter` (worker): reduces a partition to a small message
  (:meth:`PanelSpec.reduce`), so workers ship aggregates, not whole batches.
- :class:`DashboardSink` (driver): folds the messages into the panel at commit
  and hands its view to the page's server. The page therefore lives in the
  driver process under every runner (``processes``, ``spark``), where commits run.

Exactly-once: the panel is keyed by batch time, so a replayed or repeated
commit replaces its own point. With a checkpoint, the panel is also saved at
every commit under ``<checkpoint>/sinks/<name>/panel.json``, so a restarted
job's page shows what it showed before the crash and the replayed batch lands
on the same point.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.sink import Sink, SinkContext, SinkWriter
from etlcore_dashboard.config import DashboardSinkConfig
from etlcore_dashboard.panels import PanelSpec, PanelState

log = logging.getLogger("etlcore.dashboard")
STATE_FILE = "panel.json"
_order = itertools.count()  # panels appear in the order their sinks opened


class PanelWriter(SinkWriter):
    """Reduces a partition to its panel's commit message (picklable: the spec only)."""

    def __init__(self, spec: PanelSpec):
        self.spec = spec

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        return self.spec.reduce(records)


class DashboardSink(Sink):
    """One panel; every dashboard sink on a host/port in this process shares one page."""

    plan_before_write = False  # writers only reduce; the panel changes at commit

    def __init__(self, config: DashboardSinkConfig):
        self.config = config
        self.spec = PanelSpec.of(config)
        self.state: PanelState | None = None
        self.server: Any = None
        self.panel_id = ""
        self._order = 0
        self._saved: Path | None = None

    def __repr__(self) -> str:
        return f"DashboardSink(panel={self.spec.kind!r}, {self.config.host}:{self.config.port})"

    @property
    def url(self) -> str | None:
        """The page's address once open (the port chosen, with ``port=0``)."""
        return self.server.url if self.server is not None else None

    def writer(self) -> PanelWriter:
        return PanelWriter(self.spec)

    def open(self, ctx: SinkContext) -> None:
        from etlcore_dashboard.server import acquire

        c = self.config
        self.panel_id = f"{ctx.job_name}/{ctx.name}"
        self._order = next(_order)
        self.state = PanelState(self.spec, c.title or ctx.name, top=c.top, points=c.points)
        state_dir = ctx.state_dir()
        if state_dir is not None:
            self._saved = state_dir / STATE_FILE
            self._restore(self._saved)
        self.server = acquire(c.host, c.port, c.resolved_token(), f"sink '{ctx.name}'")
        if self.server.title == "etlcore":
            self.server.title = ctx.job_name
        self.server.put(self.panel_id, self._order, self.state.view())
        log.info("dashboard sink '%s': panel %r on %s", ctx.name, self.state.title, self.url)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        assert self.state is not None, "commit before open"
        if not self.state.commit(batch, messages):
            return
        if self._saved is not None:
            self._save(self._saved)
        self.server.put(self.panel_id, self._order, self.state.view())

    def close(self) -> None:
        from etlcore_dashboard.server import release

        server, self.server = self.server, None
        if server is not None:
            release(server)

    # -- the panel beside the checkpoint ---------------------------------------------------
    def _save(self, path: Path) -> None:
        """Write the panel atomically (a crash leaves the old file or the new one)."""
        assert self.state is not None
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.state.dump(), ensure_ascii=False, allow_nan=False),
                       encoding="utf-8")
        os.replace(tmp, path)

    def _restore(self, path: Path) -> None:
        assert self.state is not None
        if not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # a panel is a view: start it empty, say why
            log.warning("dashboard: cannot read %s (%s); the panel starts empty", path, err)
            return
        with contextlib.suppress(TypeError, ValueError, IndexError):
            self.state.load(data)
