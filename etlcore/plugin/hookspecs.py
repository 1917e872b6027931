"""Every hook an etlcore plugin can implement.

A plugin is a module (or an object) with functions marked ``@hookimpl``,
found through the ``etlcore`` entry-point group. The built-in connectors
register through these same hooks (:mod:`etlcore.connectors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from etlcore.metrics import BatchMetrics
    from etlcore.plugin.registry import Registrar

hookspec = pluggy.HookspecMarker("etlcore")
hookimpl = pluggy.HookimplMarker("etlcore")

# ---------------------------------------------------------------------------
# sources and sinks
# ---------------------------------------------------------------------------


@hookspec
def etlcore_register_sources(register: Registrar) -> None:
    """Register source factories: ``register.source(name, cls, config_cls, description)``.

    ``cls(config)`` must build an :class:`etlcore.source.Source` from a parsed
    instance of the dataclass ``config_cls``. Called once, the first time a
    source is looked up.
    """


@hookspec
def etlcore_register_sinks(register: Registrar) -> None:
    """Register sink factories: ``register.sink(name, cls, config_cls, description)``.

    ``cls(config)`` must build an :class:`etlcore.sink.Sink`. Called once, the
    first time a sink is looked up.
    """


# ---------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------


@hookspec
def etlcore_job_started(job_name: str, config: dict[str, Any]) -> None:
    """A job is about to plan its first batch (dashboards open here)."""


@hookspec
def etlcore_batch_completed(metrics: BatchMetrics) -> None:
    """A batch committed; ``metrics`` has its counts and timings (for live dashboards)."""


@hookspec
def etlcore_job_stopped(job_name: str) -> None:
    """A job stopped, gracefully or after an error."""
