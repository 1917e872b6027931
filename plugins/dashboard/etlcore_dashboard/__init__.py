"""etlcore-dashboard: a sink that turns a stream's results into a live web page of panels.

    counts.sink("dashboard", title="Trending hashtags", panel="bar", key="tag", value="count")

- :mod:`~etlcore_dashboard.panels` (workers and driver, no web imports): what a
  panel keeps of a batch, and its state keyed by batch time.
- :mod:`~etlcore_dashboard.sink`: the sink; commits on the driver update the panel.
- :mod:`~etlcore_dashboard.server`: one aiohttp server per process and host/port,
  on its own thread and event loop, pushing panels to browsers (server-sent events).

Registering imports neither aiohttp nor plotly: the registry imports the sink on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("dashboard", "etlcore_dashboard.sink:DashboardSink",
                  "etlcore_dashboard.config:DashboardSinkConfig",
                  "live web page of panels: line, bar (top keys), table, big number")
