"""Stage tasks as Spark jobs on an Apache Spark cluster (``pip install etlcore[spark]``).

The driver is a Spark driver: the job's program goes to the executors once as
a broadcast variable, and every stage of a batch is one Spark job over its
tasks (one Spark partition per stage task). Python workers of the executors
keep the unpickled program, their source readers and sink writers between
batches (Spark reuses Python workers). Spark retries a failed task on another
executor (``spark.task.maxFailures``), so a lost worker JVM costs a retry, not
data: a task is deterministic and returns values only.

Shuffle blocks come back to the driver with the results and go out with the
next stage's tasks; keyed state is held by the driver between batches and
travels with the task of its partition, encoded as plain data.

On a cluster of several hosts the checkpoint directory and any local-path sink
must be on storage every host sees (a network file system; ``s3://`` and
``hdfs://`` paths need the file-system plugins).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import uuid
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


def _is_local(master: str) -> bool:
    return master.startswith("local")


def _with_retries(master: str) -> str:
    """``local[N]`` never retries a failed task; ``local[N,4]`` does, as a cluster would."""
    m = re.fullmatch(r"local\[(\d+|\*)\]", master)
    return f"local[{m.group(1)},4]" if m else master


class SparkRunner(Runner):
    """Runs each stage of a batch as a Spark job on ``master``."""

    name = "spark"
    ships = True

    def __init__(self, master: str | None = None, workers: int | None = None,
                 conf: dict[str, str] | None = None, context: Any = None):
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
        self._sc: Any = context
        self._own_context = context is None  # a context handed in outlives the job
        self._broadcast: Any = None
        self._uid: str | None = None
        self._group = f"etlcore-{uuid.uuid4().hex[:12]}"  # this runner's jobs, for interrupt()

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

    def _context(self, job: str) -> Any:
        try:
            from pyspark import SparkConf, SparkContext
        except ImportError:
            raise EtlcoreError("the spark runner needs pyspark: pip install 'etlcore[spark]'")\
                from None
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        conf = (SparkConf().setMaster(_with_retries(self.master)).setAppName(f"etlcore-{job}")
                .set("spark.ui.enabled", "false")
                .set("spark.ui.showConsoleProgress", "false")
                .set("spark.executor.memory", "512m")
                .set("spark.python.worker.reuse", "true")
                .set("spark.task.maxFailures", "4")
                .set("spark.executorEnv.PYTHONPATH", os.pathsep.join(p for p in sys.path if p)))
        if _is_local(self.master) or "127.0.0.1" in self.master or "localhost" in self.master:
            conf = conf.set("spark.driver.host", "127.0.0.1").set(
                "spark.driver.bindAddress", "127.0.0.1")
        if self.workers and not _is_local(self.master):
            conf = conf.set("spark.cores.max", str(self.workers))
        for k, v in self.conf.items():
            conf = conf.set(k, v)
        active = SparkContext._active_spark_context
        if active is not None:  # one driver per process: share it, leave it running after
            self._own_context = False
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
        if self._broadcast is not None:
            self._broadcast.unpersist()
        self._broadcast = self._sc.broadcast(cloudpickle.dumps(program))
        self._uid = program.uid

    def run(self, program: Program, tasks: list[Task]) -> list[TaskResult]:
        if self._sc is None or self._uid != program.uid:
            self.start(program)
        blob, uid = self._broadcast, program.uid
        self._sc.setJobGroup(self._group, f"etlcore {program.job}", interruptOnCancel=True)
        rdd = self._sc.parallelize(tasks, len(tasks))
        return rdd.map(lambda task: _execute(blob, uid, task)).collect()

    def interrupt(self) -> None:
        """Cancel this runner's Spark jobs (and only those, on a shared context)."""
        if self._sc is not None:
            with contextlib.suppress(Exception):  # the context may be stopping already
                self._sc.cancelJobGroup(self._group)

    def stop(self) -> None:
        if self._broadcast is not None:
            with contextlib.suppress(Exception):  # the context may already be gone
                self._broadcast.destroy()
            self._broadcast = None
        if self._sc is not None and self._own_context:
            self._sc.stop()
            self._sc = None
