"""A persistent pool of worker processes on this machine.

The job's program (stages, worker copies of the operators, readers, writers) is
pickled once per job and unpickled once per worker, so a task carries only its
input: a source range, or the blocks and state of one reduce partition. Workers
come from a fork server that has etlcore preloaded, each with its own pipe
(:mod:`etlcore.runners.workerpool`); the pool is kept for the next job in this
process with the same number of workers (``keep_pool``).

A worker that dies mid-batch (killed, out of memory, a crash in native code) is
replaced and its unfinished task run again; tasks are deterministic and return
values only, so nothing is lost or doubled. After ``max_restarts`` deaths in one
call it stops the job with what the dead worker said (exit code or signal). An
exception raised by operator code is not retried: it is the job's error, raised
on the driver.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import cloudpickle

from etlcore.engine.stages import Program
from etlcore.engine.task import Task, TaskResult
from etlcore.runners import workerpool
from etlcore.runners.base import Runner
from etlcore.runners.workerpool import WorkerLostError, shutdown_pools

__all__ = ["ProcessRunner", "WorkerLostError", "shutdown_pools"]


def _worker_modules(program: Program | None) -> list[str]:
    """Heavy modules the job's operators name (``worker_modules``: SQL's duckdb, pyarrow).

    Preloaded in the fork server when this job is the one that starts it, so
    each new worker does not import them again (about a second each on a busy
    machine); the fork server skips a module that is not installed.
    """
    if program is None:
        return []
    nodes = [m.node for st in program.stages for m in st.members] + [
        st.wide for st in program.stages] + list(program.consumers.values())
    return sorted({mod for node in nodes for mod in getattr(node, "worker_modules", ())})


class ProcessRunner(Runner):
    """Runs tasks on ``workers`` processes (default: one per core).

    ``keep_pool`` (default True): when the job stops, its workers wait for the
    next job of this process with as many workers instead of exiting;
    :func:`shutdown_pools` (or interpreter exit) ends them.
    """

    name = "processes"
    ships = True
    pipelines = True

    def __init__(self, workers: int | None = None, max_restarts: int = 3,
                 keep_pool: bool = True):
        self.workers = workers or os.cpu_count() or 1
        self.max_restarts = max_restarts
        self.keep_pool = keep_pool
        self._pool: workerpool.WorkerPool | None = None
        self.restarts = 0  # workers replaced after one died (a metric for tests)
        self._interrupted = threading.Event()

    @property
    def default_parallelism(self) -> int:
        return self.workers

    def describe(self) -> str:
        return f"processes ({self.workers} workers)"

    def start(self, program: Program) -> None:
        self._interrupted.clear()
        if self._pool is None:
            modules = _worker_modules(program)
            self._pool = (workerpool.acquire(self.workers, modules) if self.keep_pool
                          else workerpool.WorkerPool(self.workers, modules))
        self._pool.load(program.uid, cloudpickle.dumps(program))

    def run(self, program: Program, tasks: list[Task]) -> list[TaskResult]:
        return self.submit(program, tasks)()

    def submit(self, program: Program, tasks: list[Task]) -> Callable[[], list[TaskResult]]:
        """The tasks go down the workers' pipes now (behind any call still running)."""
        if self._pool is None or self._pool.program is None \
                or self._pool.program[0] != program.uid:
            self.start(program)
        pool = self._pool
        assert pool is not None
        call = pool.submit(tasks)
        return lambda: pool.collect(call, self.max_restarts, self._interrupted, self._replaced)

    def _replaced(self) -> None:
        self.restarts += 1

    def interrupt(self) -> None:
        """End the workers now (tasks are deterministic: the batch is replayed on restart)."""
        self._interrupted.set()
        pool = self._pool
        if pool is not None:
            pool.kill_all()

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self.keep_pool and not self._interrupted.is_set():
            workerpool.release(pool)
        else:
            pool.close()
