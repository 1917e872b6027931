"""A worker process's side of the pool: load programs, run tasks, send replies.

The driver side (:mod:`etlcore.runners.workerpool`) starts each worker with
:func:`serve` as its target and talks to it down one pipe: ``load`` and ``forget``
a job's program, ``run`` a task (its records' marshal frame follows), ``stop``.
A task's reply is written from a thread of its own
(:class:`~etlcore.runners.pipewriter.PipeWriter`), so the next task, already
waiting in the pipe, runs while a big reply drains.
"""

from __future__ import annotations

import marshal
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from contextlib import suppress

import cloudpickle

from etlcore.engine.stages import Program
from etlcore.engine.task import Task, WorkerEnv, execute, gc_paused, worker_name
from etlcore.runners.pipewriter import PipeWriter
from etlcore.runners.wire import pack_result
from etlcore.runners.workermem import keep_arenas

_PROTOCOL = pickle.HIGHEST_PROTOCOL


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


def _load(blob: bytes, sys_path: list[str], cwd: str) -> Program | BaseException:
    """A job's program (an error is kept and reported by the job's first task)."""
    sys.path[:] = sys_path
    with suppress(OSError):  # a vanished directory: the job's relative paths fail instead
        os.chdir(cwd)
    try:
        return cloudpickle.loads(blob)
    except BaseException as err:  # noqa: BLE001 - reported by the first task instead
        return err


def _run(programs: dict[str, Program | BaseException], env: WorkerEnv, uid: str,
         task: Task, blob: bytes | None) -> bytes:
    """One task, its records unpacked and its result pickled without cyclic GC passes."""
    program = programs.get(uid)
    if program is None:
        raise RuntimeError(f"worker {env.worker} has no program {uid} (a runner bug)")
    if isinstance(program, BaseException):
        raise RuntimeError(f"worker could not load the job: {type(program).__name__}: "
                           f"{program}") from program
    with gc_paused():
        if blob is not None:
            task.records = marshal.loads(blob)
        result = execute(program, env, task)
        values = pack_result(result)
        return pickle.dumps(("ok", result, values), _PROTOCOL)


def _error_reply(err: BaseException) -> bytes:
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        return pickle.dumps(("error", err, tb), _PROTOCOL)
    except Exception:  # noqa: BLE001 - an exception that does not pickle still reaches the driver
        return pickle.dumps(("error", RuntimeError(f"{type(err).__name__}: {err}"), tb),
                            _PROTOCOL)


def serve(conn: multiprocessing.connection.Connection, driver: int) -> None:
    """A worker's loop: load and forget programs, run tasks, one message at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    threading.Thread(target=_watch_driver, args=(driver,), daemon=True,
                     name="etlcore-driver-watch").start()
    keep_arenas()
    env = WorkerEnv(f"process-{worker_name()}")
    programs: dict[str, Program | BaseException] = {}
    replies = PipeWriter(conn, "etlcore-reply")  # the next task runs while a reply drains
    try:
        while True:
            try:
                kind, uid, payload = pickle.loads(conn.recv_bytes())
                if kind == "run":
                    task, framed = payload
                    blob = conn.recv_bytes() if framed else None  # the records' frame follows
            except EOFError:
                return
            if kind == "run":
                try:
                    reply = _run(programs, env, uid, task, blob)
                except BaseException as err:  # noqa: BLE001 - the driver raises it
                    reply = _error_reply(err)
                replies.send(reply)
            elif kind == "load":
                programs[uid] = _load(*payload)
            elif kind == "forget":
                programs.pop(uid, None)
                env.close_program(uid)
            else:  # "stop"
                return
    finally:
        replies.close()
        env.close()
