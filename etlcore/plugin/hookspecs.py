"""Every hook an etlcore plugin can implement.

A plugin is a module (or an object) with functions marked ``@hookimpl``,
found through the ``etlcore`` entry-point group. The built-in connectors
register through these same hooks (:mod:`etlcore.connectors`). A function
named ``etlcore_*`` that is not one of these hooks, or lacks ``@hookimpl``,
marks the plugin broken (:func:`etlcore.plugin.loading.hook_problems`) rather
than being ignored.
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
    """Register sources: ``register.source(name, "pkg.mod:Cls", "pkg.mod:Config", description)``.

    ``Cls(config)`` must build an :class:`etlcore.source.Source` from a parsed
    instance of the dataclass ``Config``. Give both as ``"module:Class"``
    strings (classes still work): they are imported when a job first uses the
    name, so listing plugins or running other jobs never imports the client
    library behind them. Keep the config class in a module that imports no
    client library, as ``etlcore plugins`` imports it to show the settings.
    Without ``config_cls`` it is the annotation of ``Cls``'s config parameter.

    Called once per process, the first time any source or sink is looked up,
    for every plugin; a hook that raises marks only its own plugin broken.
    """


@hookspec
def etlcore_register_sinks(register: Registrar) -> None:
    """Register sinks: ``register.sink(name, "pkg.mod:Cls", "pkg.mod:Config", description)``.

    ``Cls(config)`` must build an :class:`etlcore.sink.Sink`; the rest is as for
    :func:`etlcore_register_sources`. Two plugins registering one name is an
    error for the jobs that use that name.
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
