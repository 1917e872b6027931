"""Stage tasks as Spark jobs on an Apache Spark cluster (``pip install etlcore[spark]``).

The driver is a Spark driver: the job's program goes to the executors once as
a broadcast variable, and every stage of a batch is one Spark job over its
tasks (one Spark partition per stage task). Python workers of the executors
keep the unpickled program, their source readers and sink writers between
batches (Spark reuses Python workers). Spark retries a failed task on another
executor (``spark.task.maxFailures``), so a lost worker JVM costs a retry, not
data: a task is deterministic and returns values only.

A source stage and the one reduce stage its shuffle feeds run as one Spark job
(:meth:`SparkRunner.run_chain`): the map tasks route their blocks by reduce
partition (etlcore's own partitioner already chose it), and Spark's shuffle
moves them with ``partitionBy`` on those partition numbers, so no block passes
through the driver. Other shapes run one Spark job per stage, and their blocks
come back to the driver with the results and go out with the next stage's tasks.
Keyed state is held by the driver between batches and travels with the task of
its partition, encoded as plain data. With ``keep_state=True`` (experimental, not
yet measured, off by default) a chained stateful reduce stage keeps its state in
a cached RDD on the executors instead, as ``updateStateByKey`` does; it comes to
the driver at snapshot batches and every ``KEPT_BATCHES`` batches (which also
bounds the RDD lineage).

A job that is behind plans a backlog of step sources (``QueueSource``) in batches of up
to ``catch_up_records`` records (:mod:`etlcore.catchup`), so fewer Spark jobs run.

A batch whose source tasks read nothing (the idle batch at the end of a bounded
input) runs on the driver, the reduce stage of a chain too unless its state is kept
on the executors: a Spark job costs 60-400 ms here before any work. With
``driver_records=N`` (off by default) so does a batch whose source tasks hold at most
N records the driver already read (a queue's or memory source's small step); its
tasks then get no Spark retries.
A driver the runner starts gets :func:`recommended_conf` (Unix domain sockets
between the JVM and Python workers: no 40 ms loopback-TCP stalls per batch).

On a cluster of several hosts the checkpoint directory and any local-path sink
must be on storage every host sees (a network file system; ``s3://`` and
``hdfs://`` paths need the file-system plugins).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import cloudpickle

from etlcore.engine.stages import Program
from etlcore.engine.task import Task, TaskResult, WorkerEnv, execute, gc_paused, worker_name
from etlcore.errors import ConfigError, EtlcoreError
from etlcore.runners.base import Runner

log = logging.getLogger("etlcore.runners.spark")

_programs: dict[str, Program] = {}
_env: WorkerEnv | None = None


def _execute(blob: Any, uid: str, task: Task) -> TaskResult:
    """On a Spark executor's Python worker: the program once per worker, then the task."""
    global _env
    program = _programs.get(uid)
    if program is None:
        program = _programs[uid] = cloudpickle.loads(blob.value)
    if _env is None:
        _env = WorkerEnv(f"spark-{worker_name()}")
    with gc_paused():
        return execute(program, _env, task)


def _identity(part: int) -> int:
    """The Spark partitioner of a chain's shuffle: keys are already reduce partitions."""
    return part


def _map_chain(blob: Any, uid: str, exit_id: int, n: int,
               items: Iterable[tuple[Task, list[Task]]]) -> Iterator[tuple[int, Any]]:
    """A chain's map side: run each source task and key its blocks by reduce partition.

    The task's result (without the blocks) and the reduce tasks that travelled with it go
    to their partitions too, so the reduce side can hand everything back in one collect.
    """
    for task, reduce_tasks in items:  # read to the end: a worker is reused only then
        result = _execute(blob, uid, task)
        blocks = result.shuffle.pop(exit_id, None) or []
        for i, block in enumerate(blocks):
            yield i, (0, task.part, block)
        yield task.part % n, (1, task.part, result)
        for rt in reduce_tasks:
            yield rt.part, (2, rt.part, rt)


def _reduce_chain(blob: Any, uid: str, keep: bool,
                  items: Iterable[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """A chain's reduce side: the partition's blocks in map-task order, then its task.

    Items are ``(partition, (kind, part, value))``: 0 a block, 1 a map task's result
    (passed through), 2 the reduce task, 3 its state kept from the last batch. With
    ``keep`` the new state leaves as a kind-3 item, not in the result.
    """
    blocks: list[tuple[int, Any]] = []
    out: list[tuple[int, Any]] = []
    task: Task | None = None
    state: list[Any] = []
    for _, (kind, part, value) in items:
        if kind == 0:
            blocks.append((part, value))
        elif kind == 1:
            out.append((part, (1, part, value)))
        elif kind == 2:
            task = value
        else:
            state.append(value)
    if task is not None:
        blocks.sort(key=lambda b: b[0])
        task.inputs = [[b for _, b in blocks]]
        if state:
            task.state = state[0]
        result = _execute(blob, uid, task)
        if keep:
            out.append((task.part, (3, task.part, result.state)))
            result.state = None
        out.append((task.part, (2, task.part, result)))
    return out


def _not_state(item: tuple[int, Any]) -> bool:
    return item[1][0] != 3


def _is_state(item: tuple[int, Any]) -> bool:
    return item[1][0] == 3


def _driver_held(program: Program, tasks: list[Task], limit: int) -> bool:
    """Source tasks that read nothing, or hold at most ``limit`` records in all that the
    driver read (a worker's read, of unknown size, is never light)."""
    held = 0
    for task in tasks:
        if program.stages[task.stage].kind != "source":
            return False
        if task.records is not None:
            held += len(task.records)
        elif not (task.source is None or task.source[1] == task.source[2]):
            return False
    return held <= limit


def recommended_conf() -> dict[str, str]:
    """Settings for a driver that runs etlcore micro-batches: a Spark job a batch.

    ``spark.python.unix.domain.socket.enabled``: the JVM and its Python workers (and
    ``parallelize``/``collect`` on the driver) talk over Unix domain sockets, not
    loopback TCP. Over TCP a reused Python worker reading a one-element partition
    waited 40 ms (Nagle's algorithm against delayed ACKs) and 0-4 ms over a Unix
    socket, on local[2] here; a chained batch crosses that boundary several times.
    Not set where the platform has no ``AF_UNIX``. The runner sets these on the
    context it makes unless ``conf`` says otherwise; a context handed in is the
    caller's to configure (``SparkConf().setAll(recommended_conf().items())``).
    """
    conf = {"spark.python.worker.reuse": "true"}
    if hasattr(socket, "AF_UNIX"):
        conf["spark.python.unix.domain.socket.enabled"] = "true"
    return conf


def _is_local(master: str) -> bool:
    return master.startswith("local")


def _with_retries(master: str) -> str:
    """``local[N]`` never retries a failed task; ``local[N,4]`` does, as a cluster would."""
    m = re.fullmatch(r"local\[(\d+|\*)\]", master)
    return f"local[{m.group(1)},4]" if m else master


def _note_conf(sc: Any) -> None:
    """Say once (at info) which recommended settings a context handed in goes without."""
    global _noted
    if _noted:
        return
    _noted = True
    with contextlib.suppress(Exception):  # a context without a JVM conf: nothing to say
        missing = {k: v for k, v in recommended_conf().items() if sc.getConf().get(k) != v}
        if missing:
            log.info("the Spark context handed to the spark runner goes without %s "
                     "(etlcore.runners.spark.recommended_conf(): each batch's job waits less)",
                     ", ".join(f"{k}={v}" for k, v in missing.items()))


_noted = False


class SparkRunner(Runner):
    """Runs each stage of a batch as a Spark job on ``master``."""

    name = "spark"
    ships = True
    chains = True
    # a Spark job costs ~100 ms+ before any work: a backlog of step sources is planned
    # in batches of up to this many records (etlcore.catchup; catch_up= overrides)
    catch_up_records = 1_000_000
    # a batch whose source tasks hold at most this many records the driver read runs on
    # the driver (a Spark job's fixed cost is far more than a handful of records' work,
    # but a task there gets no retry): 0, only batches that read nothing; driver_records=
    driver_records = 0

    def __init__(self, master: str | None = None, workers: int | None = None,
                 conf: dict[str, str] | None = None, context: Any = None,
                 keep_state: bool = False, driver_records: int | None = None):
        if context is not None:
            master = context.master
        self.master = master or os.environ.get("ETLCORE_SPARK_MASTER") or (
            f"local[{workers or os.cpu_count() or 1}]")
        if not isinstance(self.master, str) or not re.match(r"(local(\[.*\])?|spark://|yarn|k8s://)",
                                                             self.master):
            raise ConfigError("master", "a Spark master URL such as local[2] or "
                              "spark://host:7077", self.master)
        self.workers = workers
        self.conf = dict(conf or {})
        # experimental, off by default until measured: keyed state of a chained reduce
        # stage stays on the executors between batches (see run_chain)
        self.keeps_state = bool(keep_state)
        if driver_records is not None:
            if isinstance(driver_records, bool) or not isinstance(driver_records, int) \
                    or driver_records < 0:
                raise ConfigError("driver_records", "a number of records >= 0 (0: only "
                                  "batches that read nothing run on the driver)", driver_records)
            self.driver_records = driver_records
        self._sc: Any = context
        self._own_context = context is None  # a context handed in outlives the job
        self._broadcast: Any = None
        self._uid: str | None = None
        self._group = f"etlcore-{uuid.uuid4().hex[:12]}"  # this runner's jobs, for interrupt()
        self._driver_env = WorkerEnv("driver")  # stages that read nothing run here
        # (program uid, node) -> the cached RDD of the last chain batch, whose kind-3
        # items are the node's state by partition; and states taken over at stop()
        self._kept: dict[tuple[str, str], Any] = {}
        self._final: dict[tuple[str, str], list[Any]] = {}

    @property
    def default_parallelism(self) -> int:
        if self.workers:
            return self.workers
        m = re.fullmatch(r"local\[(\d+)(,\d+)?\]", self.master)
        if m:
            return int(m.group(1))
        if self._sc is not None:
            return max(1, int(self._sc.defaultParallelism))
        return 2

    @property
    def multi_host(self) -> bool:
        return not (_is_local(self.master)
                    or re.match(r"spark://(127\.0\.0\.1|localhost)[:/]", self.master) is not None)

    def describe(self) -> str:
        return f"spark ({self.master})"

    def spark_conf(self, job: str) -> Any:
        """The SparkConf of a driver this runner starts: its defaults, then ``conf``."""
        try:
            from pyspark import SparkConf
        except ImportError:
            raise EtlcoreError("the spark runner needs pyspark: pip install 'etlcore[spark]'")\
                from None
        conf = (SparkConf().setMaster(_with_retries(self.master)).setAppName(f"etlcore-{job}")
                .set("spark.ui.enabled", "false")
                .set("spark.ui.showConsoleProgress", "false")
                .set("spark.executor.memory", "512m")
                .setAll(recommended_conf().items())
                .set("spark.task.maxFailures", "4")
                .set("spark.executorEnv.PYTHONPATH", os.pathsep.join(p for p in sys.path if p)))
        if _is_local(self.master) or "127.0.0.1" in self.master or "localhost" in self.master:
            conf = conf.set("spark.driver.host", "127.0.0.1").set(
                "spark.driver.bindAddress", "127.0.0.1")
        if self.workers and not _is_local(self.master):
            conf = conf.set("spark.cores.max", str(self.workers))
        for k, v in self.conf.items():
            conf = conf.set(k, v)
        return conf

    def _context(self, job: str) -> Any:
        conf = self.spark_conf(job)
        from pyspark import SparkContext

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        active = SparkContext._active_spark_context
        if active is not None:  # one driver per process: share it, leave it running after
            self._own_context = False
            _note_conf(active)
            return active
        try:
            sc = SparkContext.getOrCreate(conf)
        except Exception as err:
            raise EtlcoreError(f"cannot start a Spark driver for master {self.master}: "
                               f"{type(err).__name__}: {err}") from None
        sc.setLogLevel("WARN")
        return sc

    def start(self, program: Program) -> None:
        if self._sc is None:
            self._sc = self._context(program.job)
        elif not self._own_context:
            _note_conf(self._sc)
        if self._broadcast is not None:
            self._broadcast.unpersist()
        self._broadcast = self._sc.broadcast(cloudpickle.dumps(program))
        self._uid = program.uid

    def _submit(self, program: Program) -> tuple[Any, str]:
        if self._sc is None or self._uid != program.uid:
            self.start(program)
        self._sc.setJobGroup(self._group, f"etlcore {program.job}", interruptOnCancel=True)
        return self._broadcast, program.uid

    def _on_driver(self, program: Program, tasks: list[Task], *more: list[Task]) -> bool:
        """The source tasks read nothing or a handful of held records: no Spark job (its
        fixed cost is the whole work). Sink writers of these stages (``more``: the
        reduce tasks of a chain) then open on the driver, so not on several hosts."""
        if not _driver_held(program, tasks, self.driver_records):
            return False
        return not (self.multi_host and any(ex.kind == "sink" for ts in (tasks, *more)
                                            for t in ts[:1]
                                            for ex in program.stages[t.stage].exits))

    def run(self, program: Program, tasks: list[Task]) -> list[TaskResult]:
        if self._on_driver(program, tasks):
            return [execute(program, self._driver_env, t) for t in tasks]
        blob, uid = self._submit(program)
        rdd = self._sc.parallelize(tasks, len(tasks))
        return rdd.map(lambda task: _execute(blob, uid, task)).collect()

    def run_chain(self, program: Program, tasks: list[Task], exit_id: int,
                  reduce_tasks: list[Task], state: str | None = None, keep: bool = False,
                  ) -> tuple[list[TaskResult], list[TaskResult]]:
        """One Spark job: source tasks, ``partitionBy`` on reduce partitions, reduce tasks.

        Reduce task ``i`` travels with source task ``i % len(tasks)`` (no extra Spark tasks
        for it); its blocks meet it in reduce partition ``i``. With ``keep`` the reduce
        side's new state stays in a cached RDD partitioned the same way, which the next
        batch's reduce side reads through a union of the two (a narrow dependency: Spark's
        ``PartitionerAwareUnionRDD``), as ``updateStateByKey`` carries its state RDD; only
        :meth:`take_state` brings it to the driver (a checkpoint snapshot).
        """
        kept_there = state is not None and (keep or (program.uid, state) in self._kept)
        if self._on_driver(program, tasks, [] if kept_there else reduce_tasks):
            first = [execute(program, self._driver_env, t) for t in tasks]
            blocks = [r.shuffle.pop(exit_id) for r in first]  # a source stage always routes
            for rt in reduce_tasks:
                rt.inputs = [[b[rt.part] for b in blocks]]
            if not kept_there:  # the state came with the tasks: the reduce side too
                return first, [execute(program, self._driver_env, rt) for rt in reduce_tasks]
            tasks, first_done = [], first  # only the reduce side ships, to its kept state
        else:
            first_done = None
        blob, uid = self._submit(program)
        n = len(reduce_tasks)
        held = self._kept.pop((uid, state), None) if state is not None else None
        if held is not None:
            for rt in reduce_tasks:
                rt.state = None  # the held RDD has it
        if tasks:
            m = len(tasks)
            items = [(t, reduce_tasks[j::m]) for j, t in enumerate(tasks)]
            rdd = (self._sc.parallelize(items, m)
                   .mapPartitions(lambda it: _map_chain(blob, uid, exit_id, n, it)))
        else:
            rdd = self._sc.parallelize([(rt.part, (2, rt.part, rt)) for rt in reduce_tasks], n)
        rdd = rdd.partitionBy(n, _identity)
        if held is not None:
            rdd = rdd.union(held.filter(_is_state))
            if rdd.getNumPartitions() != n:  # not partitioner-aware: shuffle the state too
                rdd = rdd.partitionBy(n, _identity)
        keeping = state is not None and keep
        rdd = rdd.mapPartitions(lambda it: _reduce_chain(blob, uid, keeping, it),
                                preservesPartitioning=True)
        try:
            if keeping:
                rdd.persist()
                out = rdd.filter(_not_state).values().collect()
            else:
                out = rdd.values().collect()
        except BaseException:
            if held is not None:
                self._kept[(uid, state)] = held  # the batch did not happen: keep the old one
            if keeping:
                rdd.unpersist()
            raise
        if keeping:
            self._kept[(uid, state)] = rdd
        if held is not None:
            held.unpersist()
        first = first_done if first_done is not None else sorted(
            (r for kind, _, r in out if kind == 1), key=lambda r: r.part)
        second = sorted((r for kind, _, r in out if kind == 2), key=lambda r: r.part)
        return first, second

    def holds_state(self, program: Program, key: str) -> bool:
        return (program.uid, key) in self._kept

    def take_state(self, program: Program, key: str) -> list[Any]:
        """The kept state by partition, collected (one Spark job); the next batch ships it
        again from the driver, which also cuts the lineage of the cached RDDs there."""
        final = self._final.pop((program.uid, key), None)
        if final is not None:
            return final
        rdd = self._kept.pop((program.uid, key))
        try:
            return self._collect_state(rdd)
        finally:
            rdd.unpersist()

    @staticmethod
    def _collect_state(rdd: Any) -> list[Any]:
        items = sorted(rdd.filter(_is_state).values().collect(), key=lambda x: x[1])
        return [state for _, _, state in items]

    def interrupt(self) -> None:
        """Cancel this runner's Spark jobs (and only those, on a shared context)."""
        if self._sc is not None:
            with contextlib.suppress(Exception):  # the context may be stopping already
                self._sc.cancelJobGroup(self._group)

    def stop(self) -> None:
        for (uid, key), rdd in list(self._kept.items()):  # the driver may still ask for it
            with contextlib.suppress(Exception):  # a context already gone: nothing to keep
                self._final[(uid, key)] = self._collect_state(rdd)
                rdd.unpersist()
        self._kept.clear()
        if self._broadcast is not None:
            with contextlib.suppress(Exception):  # the context may already be gone
                self._broadcast.destroy()
            self._broadcast = None
        self._driver_env.close()
        if self._sc is not None and self._own_context:
            self._sc.stop()
            self._sc = None
