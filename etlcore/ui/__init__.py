"""The streaming web UI and Prometheus ``/metrics`` of a job (``pip install 'etlcore[ui]'``).

    ctx = StreamingContext(..., ui=True)                 # http://127.0.0.1:4040/
    ctx = StreamingContext(..., ui={"port": 0, "token": "s3cret", "metrics_port": 9108})
    etlcore run job.yaml --ui [--ui-port 4040] [--ui-host H] [--ui-token T] [--metrics-port P]
    etlcore ui --checkpoint ckpt/job                     # a finished job's history

Modules: :mod:`.options` (settings), :mod:`.store` (recent batches),
:mod:`.prometheus` (the exporter), :mod:`.server` (aiohttp on its own thread),
:mod:`.eventlog` / :mod:`.history` (the history under the checkpoint),
``static/`` (the pages; Plotly comes from the installed ``plotly`` package).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from etlcore.ckptstore import is_remote
from etlcore.metrics import BatchMetrics
from etlcore.ui.options import UIOptions, ui_options

if TYPE_CHECKING:
    from etlcore.context import StreamingContext
    from etlcore.ui.server import UIServer

__all__ = ["UI", "UIOptions", "attach", "ui_options"]

log = logging.getLogger("etlcore.ui")


class UI:
    """A job's running UI: its store, exporter and servers. ``stop()`` ends them."""

    def __init__(self, ctx: StreamingContext, options: UIOptions):
        from etlcore.ui.eventlog import EventLog
        from etlcore.ui.prometheus import PrometheusExporter
        from etlcore.ui.server import UIServer
        from etlcore.ui.store import BatchStore

        self.options = options
        info = ctx.describe()
        info["runner"] = ctx.runner.describe()
        self.store = BatchStore(info, keep=options.keep)
        self.exporter = PrometheusExporter(ctx.name)
        self.servers: list[UIServer] = []
        self.page: UIServer | None = None
        self.metrics_server: UIServer | None = None
        # the history's event log appends, so it is kept only in a local checkpoint
        self._events = (EventLog(ctx.checkpoint_dir) if ctx.checkpoint_dir is not None
                        and not is_remote(ctx.checkpoint_dir) else None)
        if options.token is None and options.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("web UI of job %s listens on %s without a token: anyone who can reach "
                        "it sees the job's records in its dead letters (set --ui-token)",
                        ctx.name, options.host)
        try:
            if options.port is not None:
                self.page = UIServer(self.store, self.exporter, options.host, options.port,
                                     options.token).start()
                self.servers.append(self.page)
            if options.metrics_port is not None:
                self.metrics_server = UIServer(None, self.exporter, options.host,
                                               options.metrics_port, options.token,
                                               pages=False).start()
                self.servers.append(self.metrics_server)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str | None:
        return self.page.url if self.page is not None else None

    @property
    def metrics_url(self) -> str:
        server = self.metrics_server or self.page
        assert server is not None
        return server.url + "metrics"

    def __call__(self, m: BatchMetrics) -> None:
        """The listener: two appends on the batch thread; the event log is the UI thread's."""
        self.store(m)
        self.exporter.record(m)
        if self._events is not None and self.servers:
            self.servers[0].call_soon(self._events.append, m)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers = []


def attach(ctx: StreamingContext, options: Any = True) -> UI:
    """Start a UI for ``ctx`` now and register it as a listener; the caller stops it."""
    opts = ui_options(options)
    if opts is None:
        raise ValueError("attach needs UI options (True, a mapping or UIOptions)")
    ui = UI(ctx, opts)
    ctx.add_listener(ui)
    return ui
