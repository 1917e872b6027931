"""Runners decide where stage tasks run; every runner runs the same stage plan.

- ``local`` (default): in this process, one task after another; no pickling.
- ``processes``: a persistent pool of worker processes on this machine.
- ``spark``: tasks as Spark jobs on a Spark cluster (``pip install etlcore[spark]``).
"""

from __future__ import annotations

from typing import Any

from etlcore.errors import ConfigError
from etlcore.runners.base import Runner
from etlcore.runners.local import LocalRunner

RUNNERS = ("local", "processes", "spark")

__all__ = ["RUNNERS", "LocalRunner", "Runner", "make_runner", "override_runner"]

_override: dict[str, Any] | None = None


def override_runner(runner: str | None, workers: int | None = None,
                    master: str | None = None) -> None:
    """Make every context built from now on use this runner (``etlcore run --runner``).

    The command line wins over what a job file says, as ``spark-submit --master`` does.
    """
    global _override
    _override = None if runner is None else {"runner": runner, "workers": workers,
                                             "master": master}


def make_runner(runner: Any = None, *, workers: int | None = None,
                master: str | None = None) -> Runner:
    """A runner from a name (``local``, ``processes``, ``spark``) or a Runner instance."""
    if _override is not None:
        runner = _override["runner"]
        workers = _override["workers"] or workers
        master = _override["master"] or master
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError("workers", "a positive number of worker processes", workers)
    if isinstance(runner, Runner):
        return runner
    if runner is None or runner == "local":
        if master is not None:
            raise ConfigError("master", "no master with the local runner (use runner='spark')",
                              master)
        return LocalRunner()
    if runner == "processes":
        from etlcore.runners.processes import ProcessRunner

        return ProcessRunner(workers=workers)
    if runner == "spark":
        from etlcore.runners.spark import SparkRunner

        return SparkRunner(master=master, workers=workers)
    raise ConfigError("runner", "one of " + ", ".join(RUNNERS) + " or a Runner", runner)
