"""The ``etlcore[ui]`` extra: import its libraries or say how to install them."""

from __future__ import annotations

from types import ModuleType

from etlcore.plugin.imports import require_module

HINT = "etlcore[ui]"  # aiohttp, plotly, prometheus_client


def need(module: str) -> ModuleType:
    """Import one of the UI's libraries; a missing one names the extra to install."""
    return require_module(module, HINT, feature="the etlcore web UI and /metrics")


def check() -> None:
    """Fail before the job runs when a UI library is missing (not at the first batch)."""
    for module in ("aiohttp.web", "plotly", "prometheus_client"):
        need(module)
