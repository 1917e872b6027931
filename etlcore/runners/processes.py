"""A persistent pool of worker processes on this machine.

The job's program (stages, worker copies of the operators, readers, writers) is
pickled once and unpickled once per worker, so a task carries only its input:
a source range, or the blocks and state of one reduce partition. Workers come
from a fork server that has etlcore preloaded, so replacing one is quick.

A worker that dies mid-batch (killed, out of memory, a crash in native code)
breaks the pool: the runner starts a new pool and runs the unfinished tasks
again; tasks are deterministic and return values only, so nothing is lost or
doubled. After ``max_restarts`` deaths in one call it stops the job with what
the dead worker said (exit code or signal). An exception raised by operator
code is not retried: it is the job's error, raised on the driver.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import cloudpickle

from etlcore.engine.stages import Program
from etlcore.engine.task import Task, TaskResult, WorkerEnv, execute, gc_paused, worker_name
from etlcore.errors import EtlcoreError
from etlcore.runners.base import Runner


class WorkerLostError(EtlcoreError):
    """Worker processes kept dying; the message says how and where."""


_program: Program | None = None
_env: WorkerEnv | None = None
_init_error: BaseException | None = None


def _watch_driver(driver: int) -> None:
    """End this worker when the driver is gone (a SIGKILLed driver cannot stop its pool)."""
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # pragma: no cover - a reused pid of another user
            os._exit(0)


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


def _init(blob: bytes, sys_path: list[str], driver: int) -> None:
    """Worker start: the driver's import path, then the program (errors kept for the first task)."""
    global _program, _env, _init_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    threading.Thread(target=_watch_driver, args=(driver,), daemon=True,
                     name="etlcore-driver-watch").start()
    sys.path[:] = sys_path
    try:
        _program = cloudpickle.loads(blob)
        _env = WorkerEnv(f"process-{worker_name()}")
        multiprocessing.util.Finalize(None, _env.close, exitpriority=10)  # close readers/writers
    except BaseException as err:  # noqa: BLE001 - reported by the first task instead
        _init_error = err


def _run(task: Task) -> TaskResult:
    if _init_error is not None:
        raise RuntimeError(f"worker could not load the job: {type(_init_error).__name__}: "
                           f"{_init_error}") from _init_error
    assert _program is not None and _env is not None
    with gc_paused():
        return execute(_program, _env, task)


@contextmanager
def _main_not_reimported() -> Iterator[None]:
    """Workers must not re-run the driver's script: cloudpickle already ships what they need.

    multiprocessing re-imports ``__main__`` by path in every new worker, which runs
    a script without an ``if __name__ == "__main__"`` guard a second time (and
    starts the job again inside the worker). Hiding the path while workers start
    turns that off.
    """
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    path = getattr(main, "__file__", None)
    if main is None or spec_name is not None or path is None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "an unknown exit"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class ProcessRunner(Runner):
    """Runs tasks on ``workers`` processes (default: one per core)."""

    name = "processes"
    ships = True

    def __init__(self, workers: int | None = None, max_restarts: int = 3):
        self.workers = workers or os.cpu_count() or 1
        self.max_restarts = max_restarts
        self._pool: ProcessPoolExecutor | None = None
        self._blob: bytes | None = None
        self._program: Program | None = None
        self.restarts = 0  # pools replaced after a worker died (a metric for tests)
        self._interrupted = threading.Event()

    @property
    def default_parallelism(self) -> int:
        return self.workers

    def describe(self) -> str:
        return f"processes ({self.workers} workers)"

    def start(self, program: Program) -> None:
        self._interrupted.clear()
        self._program = program
        self._blob = cloudpickle.dumps(program)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx: Any = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["etlcore.engine.task", "etlcore.graph.shuffle",
                                    *_worker_modules(self._program)])
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init,
                                   initargs=(self._blob, list(sys.path), os.getpid()))

    def run(self, program: Program, tasks: list[Task]) -> list[TaskResult]:
        if self._pool is None:
            self.start(program)
        results: list[TaskResult | None] = [None] * len(tasks)
        deaths: list[str] = []
        while True:
            pending = [i for i, r in enumerate(results) if r is None]
            if not pending:
                return results  # type: ignore[return-value]
            assert self._pool is not None
            with _main_not_reimported():
                futures: dict[int, Future[TaskResult]] = {
                    i: self._pool.submit(_run, tasks[i]) for i in pending}
            broken = False
            for i, future in futures.items():
                try:
                    results[i] = future.result()
                except BrokenProcessPool:
                    broken = True
            if not broken:
                continue
            if self._interrupted.is_set():
                raise EtlcoreError("stopped: the worker processes were ended mid-batch by a "
                                   "hard stop (the batch is replayed on restart)")
            deaths.append(self._bury(tasks, pending, results))
            if len(deaths) > self.max_restarts:
                raise WorkerLostError(
                    f"worker processes died {len(deaths)} times running one stage of batch "
                    f"{tasks[0].info.batch_id}; last: {deaths[-1]}. Giving up (max_restarts="
                    f"{self.max_restarts}).")

    def _bury(self, tasks: list[Task], pending: list[int],
              results: list[TaskResult | None]) -> str:
        """Replace a broken pool; say which worker died and how."""
        assert self._pool is not None
        procs = dict(getattr(self._pool, "_processes", None) or {})
        manager = getattr(self._pool, "_executor_manager_thread", None)
        self._pool.shutdown(wait=False, cancel_futures=True)
        # The pool's manager thread reaps the dead worker. Under forkserver a second
        # reader of a worker's exit status gets 255, so read it only after that thread ends.
        if manager is not None:
            manager.join(timeout=10)
        dead = [f"pid {pid} ({_describe_exit(p.exitcode)})" for pid, p in procs.items()
                if p.exitcode is not None and p.exitcode != -signal.SIGTERM]
        for p in procs.values():
            if p.exitcode is None:
                p.kill()
        self._pool = self._new_pool()
        self.restarts += 1
        left = [f"stage {tasks[i].stage} partition {tasks[i].part}" for i in pending
                if results[i] is None]
        return (f"{', '.join(dead) or 'a worker process'} died; rerunning "
                f"{len(left)} task(s): {', '.join(left[:4])}{' ...' if len(left) > 4 else ''}")

    def interrupt(self) -> None:
        """End the workers now (tasks are deterministic: the batch is replayed on restart)."""
        self._interrupted.set()
        pool = self._pool
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            if proc.exitcode is None:
                proc.kill()

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
