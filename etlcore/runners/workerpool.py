"""Worker processes with a pipe each, kept across the jobs of one driver process.

Why not ``ProcessPoolExecutor``: its single call queue is fed by one thread and
read by every worker under one lock, so a stage's second task waits while the
first one's records are pickled and piped (12-15 ms of a 75 ms W3 batch), and
any worker may take any task. Here task ``i`` goes to worker ``i % n`` down
that worker's own pipe (partition affinity; an idle worker takes another's
waiting task), the result comes back on the same pipe, and a dead worker shows
on its process sentinel, so only its own task is run again. Calls may overlap
(:meth:`WorkerPool.submit`, the scheduler's running ahead): the next batch's
tasks wait in the pipes behind this batch's, and a worker never idles while the
driver commits.

A pool outlives the job that started it: the next job in this process with the
same number of workers takes it over (:func:`acquire` / :func:`release`), so a
job does not pay for starting processes (20-45 ms). Each job's program is still
sent once per job to every worker, keyed by the program's ``uid``, and
forgotten (its readers and writers closed) when the job stops. Idle pools end
at interpreter exit or on :func:`shutdown_pools`.

What crosses the pipes is kept cheap: records the driver read go as one marshal
frame, dead letters come back as marshalled columns and stay packed on the
driver until read (:mod:`etlcore.letters`), replies are read into a buffer kept
per worker (:mod:`etlcore.runners.replybuf`), and a worker keeps the memory a
task freed for the next one instead of handing it back to the OS.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from etlcore.engine.task import Task, TaskResult
from etlcore.errors import EtlcoreError
from etlcore.runners.pipewriter import PipeWriter
from etlcore.runners.replybuf import ReplyReader
from etlcore.runners.wire import task_message, unpack_result
from etlcore.runners.workerproc import serve

_PROTOCOL = pickle.HIGHEST_PROTOCOL
# imported once by the fork server, so a new worker starts with them loaded
_PRELOAD = ["etlcore.runners.workerproc", "etlcore.graph.shuffle"]


class WorkerLostError(EtlcoreError):
    """Worker processes kept dying; the message says how and where."""


class _RemoteTraceback(Exception):
    """The worker's traceback of an operator error, chained as its ``__cause__``."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


# -- the driver side ------------------------------------------------------------------

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


def _ready(objects: list[Any]) -> set[Any]:
    """The pipes and sentinels among ``objects`` that are ready (blocks until one is).

    ``multiprocessing.connection.wait`` builds a selector, its keys and their
    namedtuples at every call: ~30 us of the driver's CPU each time it waits for a
    reply, twice a reply on W3. One ``poll`` object over the file descriptors is
    the same system call without them.
    """
    if not hasattr(select, "poll"):  # pragma: no cover - not on Linux
        return set(multiprocessing.connection.wait(objects))
    poller = select.poll()
    by_fd: dict[int, Any] = {}
    for obj in objects:
        fd = obj if isinstance(obj, int) else obj.fileno()
        by_fd[fd] = obj
        poller.register(fd, select.POLLIN)
    return {by_fd[fd] for fd, _ in poller.poll()}


def describe_exit(code: int | None) -> str:
    if code is None:
        return "an unknown exit"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class _Worker:
    """One worker process, its pipe, and the thread that writes to it.

    Messages are pickled on the caller's thread and written by the sender
    thread: a 3 MB task takes a few milliseconds to go through a 64 KB pipe,
    and meanwhile the driver pickles the next worker's task (the write
    releases the GIL). A broken pipe ends the thread; the death shows on the
    process sentinel.
    """

    def __init__(self, process: Any, conn: multiprocessing.connection.Connection):
        self.process = process
        self.conn = conn
        # (call, task index) sent and not yet answered, in the order sent: the worker
        # answers in that order. At most one of each call (see WorkerPool._pump).
        self.inflight: deque[tuple[_Call, int]] = deque()
        self.replies = ReplyReader(conn.fileno())
        self._writer = PipeWriter(conn, f"etlcore-send-{process.pid}")

    def send(self, message: tuple[str, str, Any], frame: bytes | None = None) -> None:
        """Queue ``message`` and, when given, a raw ``frame`` right behind it (one item, so
        nothing another thread queues can come between them)."""
        head = pickle.dumps(message, _PROTOCOL)
        self._writer.send(head, *(() if frame is None else (frame,)))

    def close(self) -> None:
        """End the sender (after what is queued), then the pipe."""
        self._writer.close()
        self.conn.close()


class _Call:
    """One :meth:`WorkerPool.submit`: its tasks, where each waits, the results so far."""

    def __init__(self, uid: str, tasks: list[Task], size: int):
        self.uid = uid
        self.tasks = tasks
        self.results: list[TaskResult | None] = [None] * len(tasks)
        self.left = len(tasks)
        self.queues: list[deque[int]] = [deque() for _ in range(size)]
        for i in range(len(tasks)):
            self.queues[i % size].append(i)
        self.error: BaseException | None = None  # an operator error, raised by collect


class WorkerPool:
    """``size`` worker processes from the fork server, each with its own pipe."""

    def __init__(self, size: int, preload: list[str] | None = None):
        self.size = size
        self.preload = [*_PRELOAD, *(preload or [])]
        self.slots: list[_Worker | None] = [None] * size
        self.program: tuple[str, bytes] | None = None  # (uid, cloudpickled program)
        self.calls: list[_Call] = []  # submitted, not yet collected, oldest first
        self.closed = False
        _every.add(self)

    # -- workers ------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        ctx: Any = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(self.preload)  # used when this call starts the fork server
        mine, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=serve, args=(theirs, os.getpid()), name="etlcore-worker")
        with _main_not_reimported():
            proc.start()
        theirs.close()
        worker = _Worker(proc, mine)
        if self.program is not None:
            worker.send(("load", self.program[0], (self.program[1], list(sys.path), os.getcwd())))
        return worker

    def ensure(self) -> None:
        """Every slot holds a live worker with the current program (a dead one's
        unanswered tasks back in their queues)."""
        for i, w in enumerate(self.slots):
            if w is not None and w.process.exitcode is not None:
                self._requeue(i, w)
                self._drop(i)
                w = None
            if w is None:
                self.slots[i] = self._spawn()

    def _drop(self, slot: int, kill: bool = False) -> None:
        w = self.slots[slot]
        self.slots[slot] = None
        if w is None:
            return
        if kill:
            w.process.kill()
        w.close()
        w.process.join(timeout=10)

    def kill_all(self) -> None:
        """A hard stop (from any thread): end the workers now; the running call notices."""
        for w in list(self.slots):
            if w is not None:
                with suppress(Exception):
                    w.process.kill()

    # -- programs -----------------------------------------------------------------
    def load(self, uid: str, blob: bytes) -> None:
        """Send a job's program to every worker (once per job)."""
        self.forget()
        self.program = (uid, blob)
        for w in self.slots:
            if w is not None:  # a dead one is replaced, with the program, before the next task
                w.send(("load", uid, (blob, list(sys.path), os.getcwd())))

    def forget(self) -> None:
        """The job ended: workers drop its program and close its readers and writers."""
        if self.program is None:
            return
        uid, self.program = self.program[0], None
        for w in self.slots:
            if w is not None:
                w.send(("forget", uid, None))

    @property
    def idle(self) -> bool:
        return not self.closed and not self.calls and all(
            w is None or not w.inflight for w in self.slots)

    # -- tasks --------------------------------------------------------------------
    def run(self, tasks: list[Task], max_restarts: int, interrupted: threading.Event,
            replaced: Callable[[], None]) -> list[TaskResult]:
        """Results in task order; a dead worker is replaced and its task run again."""
        return self.collect(self.submit(tasks), max_restarts, interrupted, replaced)

    def submit(self, tasks: list[Task]) -> _Call:
        """Send the tasks to the workers and return at once; :meth:`collect` waits.

        Calls may overlap: a worker takes one task of each call at a time, so the
        tasks of a call submitted while another runs wait in the workers' pipes
        and start the moment the earlier task ends (the next batch's tasks behind
        this one's). Within one call, as before, task ``i`` goes to worker
        ``i % size`` and an idle worker takes another's waiting task.
        """
        assert self.program is not None, "load a program first"
        if not self.calls:  # else a death shows on its sentinel in collect, and counts
            self.ensure()
        call = _Call(self.program[0], tasks, self.size)
        self.calls.append(call)
        self._pump()
        return call

    def collect(self, call: _Call, max_restarts: int, interrupted: threading.Event,
                replaced: Callable[[], None]) -> list[TaskResult]:
        """Wait for ``call``'s results (in task order), reading other calls' replies
        as they come; an operator error of ``call`` is raised here."""
        deaths: list[str] = []
        try:
            if call.error is not None:
                raise call.error
            while call.left:
                self._pump()
                busy = [w for w in self.slots if w is not None and w.inflight]
                if not busy:  # no live worker holds a task: a dead one left them queued
                    if not any(q for c in self.calls for q in c.queues):
                        raise EtlcoreError(f"{call.left} task(s) of batch "
                                           f"{call.tasks[0].info.batch_id} were lost by the "
                                           "worker pool (a runner bug)")
                    self.ensure()
                    continue
                waits: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = _ready(waits)
                for slot, w in enumerate(self.slots):
                    if w is None or not w.inflight:
                        continue
                    readable = w.conn in ready
                    if (readable or w.process.sentinel in ready) \
                            and not self._receive(w, readable):
                        deaths.append(self._death(slot, w))
                        self._buried(deaths, call.tasks, max_restarts, interrupted, replaced)
                if call.error is not None:
                    raise call.error
            self.calls.remove(call)
            return call.results  # type: ignore[return-value]
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """After an error: results still coming would be read as a later call's. End the
        busy workers (tasks are deterministic; they are replaced on the next call) and
        fail every call in flight."""
        for slot, w in enumerate(self.slots):
            if w is not None and w.inflight:
                self._drop(slot, kill=True)
        calls, self.calls = self.calls, []
        for c in calls:
            if c.error is None:
                c.error = EtlcoreError("the tasks were abandoned: an earlier call of the "
                                       "same job failed")

    def _pump(self) -> None:
        """Give every worker the next task of each call it holds none of, oldest call first."""
        for slot, w in enumerate(self.slots):
            if w is None:
                continue
            for call in self.calls:
                if any(c is call for c, _ in w.inflight):
                    continue
                queues = call.queues
                queue = queues[slot] if queues[slot] else max(queues, key=len)
                if not queue:
                    continue
                i = queue.popleft()
                w.inflight.append((call, i))
                # a worker that died meanwhile shows on its sentinel
                w.send(*task_message(call.uid, call.tasks[i]))

    def _receive(self, w: _Worker, readable: bool) -> bool:
        """Read the worker's oldest reply; False when it died instead.

        ``readable``: ``wait`` saw the pipe ready, so a poll would only repeat it
        (a dead worker's pipe is ready too, at its end).
        """
        try:
            if not readable and not w.conn.poll():
                return False
            data = w.replies.read()
        except (EOFError, OSError):
            return False
        call, i = w.inflight.popleft()
        try:
            with data:
                reply = pickle.loads(data)
        except Exception as err:  # e.g. an exception class whose __init__ wants other args
            raise EtlcoreError(f"the reply of worker pid {w.process.pid} to stage "
                               f"{call.tasks[i].stage} partition {call.tasks[i].part} could "
                               f"not be read: {type(err).__name__}: {err}") from err
        if reply[0] == "ok":
            call.results[i] = unpack_result(reply[1], reply[2])
            call.left -= 1
            return True
        _, err, tb = reply
        err.__cause__ = _RemoteTraceback(tb)
        if call.error is None:  # raised by the call's collect
            call.error = err
        return True

    @staticmethod
    def _requeue(slot: int, w: _Worker) -> None:
        for call, i in reversed(w.inflight):
            call.queues[slot].appendleft(i)
        w.inflight.clear()

    def _death(self, slot: int, w: _Worker) -> str:
        """Its unanswered tasks go back to the front of their calls' queues."""
        self._requeue(slot, w)
        w.process.join(timeout=10)
        code = w.process.exitcode
        self._drop(slot, kill=code is None)
        return f"pid {w.process.pid} ({describe_exit(code)})"

    def _buried(self, deaths: list[str], tasks: list[Task], max_restarts: int,
                interrupted: threading.Event, replaced: Callable[[], None]) -> None:
        """After a death: stop on a hard stop or too many deaths, else replace the worker."""
        if interrupted.is_set():
            raise EtlcoreError("stopped: the worker processes were ended mid-batch by a "
                               "hard stop (the batch is replayed on restart)")
        if len(deaths) > max_restarts:
            raise WorkerLostError(
                f"worker processes died {len(deaths)} times running one stage of batch "
                f"{tasks[0].info.batch_id}; last: {deaths[-1]} died. Giving up (max_restarts="
                f"{max_restarts}).")
        self.ensure()
        replaced()

    def close(self) -> None:
        """Stop every worker: they close what they opened and exit."""
        self.closed = True
        self.forget()
        for w in self.slots:
            if w is not None:
                w.send(("stop", "", None))
        deadline = time.monotonic() + 10
        for i, w in enumerate(self.slots):
            if w is None:
                continue
            w.process.join(timeout=max(0.0, deadline - time.monotonic()))
            self._drop(i, kill=w.process.exitcode is None)


# -- pools kept across jobs ----------------------------------------------------------

_idle: dict[int, WorkerPool] = {}
_every: weakref.WeakSet[WorkerPool] = weakref.WeakSet()  # idle or in use
_lock = threading.Lock()


def acquire(size: int, preload: list[str] | None = None) -> WorkerPool:
    """An idle pool of ``size`` workers left by an earlier job, or a new one."""
    with _lock:
        pool = _idle.pop(size, None)
    if pool is not None:
        pool.preload = [*_PRELOAD, *(preload or [])]
        return pool
    return WorkerPool(size, preload)


def release(pool: WorkerPool) -> None:
    """A job is done with ``pool``: keep it for the next job, or stop it."""
    pool.forget()
    if pool.idle:
        with _lock:
            if pool.size not in _idle:
                _idle[pool.size] = pool
                return
    pool.close()


def shutdown_pools() -> None:
    """Stop the worker pools kept for later jobs (also done at interpreter exit)."""
    with _lock:
        pools = list(_idle.values())
        _idle.clear()
    for pool in pools:
        pool.close()


def _at_exit() -> None:
    """Every pool, also one a job never stopped: multiprocessing would wait for its workers."""
    shutdown_pools()
    for pool in list(_every):
        if not pool.closed:
            pool.close()


atexit.register(_at_exit)
