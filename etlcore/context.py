"""StreamingContext: where a job's streams are declared and run.

    ctx = StreamingContext(batch_interval=1.0, checkpoint="ckpt/wordcount")
    lines = ctx.source("directory", path="in/", format="text")
    (lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key("sum")
          .sink("sqlite", path="out.db", table="counts", key=["word"]))
    ctx.run(until_idle=True)
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from etlcore.catchup import catch_up_records, catch_up_setting
from etlcore.ckptstore import check_location
from etlcore.clock import Clock, make_clock
from etlcore.config import parse_duration
from etlcore.errors import ConfigError
from etlcore.graph.builder import Graph
from etlcore.metrics import BatchMetrics, JobMetrics
from etlcore.plugin.registry import get_registry
from etlcore.ratecontrol import PIDRateController, RateController
from etlcore.runners import Runner, make_runner
from etlcore.runners.workermem import check_keep_memory, driver_keep_memory
from etlcore.scheduler import Scheduler
from etlcore.source import Source
from etlcore.stream import Stream

_log = logging.getLogger("etlcore.context")


class StreamingContext:
    """Declares sources, streams and sinks; runs them in micro-batches.

    ``batch_interval``: seconds (or "500ms", "2s") between batches.
    ``checkpoint``: a directory for the plan log, commit log and state snapshots;
    without it a restart starts from the sources' initial positions. A URL of an
    installed file-system plugin (``s3://bucket/prefix``, ``hdfs://namenode:9870/path``)
    keeps it on shared storage, as a cluster needs (README: "Where the checkpoint lives").
    ``clock="manual"`` runs batches back to back without sleeping (tests, benchmarks).
    ``backpressure=True`` enables the PID rate controller; ``max_rate_per_partition``
    caps records/s per source partition either way.
    ``runner``: where stage tasks run: ``"local"`` (default, in this process),
    ``"processes"`` (``workers`` processes, default one per core) or ``"spark"``
    (``master`` such as ``"spark://host:7077"``, default ``local[workers]``).
    ``catch_up``: when the job is behind, a step source (``queue_stream``) may put
    several of its steps into one batch, up to this many records from one source
    (:mod:`etlcore.catchup`); None (default): the runner's choice (spark: 1,000,000,
    local and processes: off); True: on with the runner's or the default cap; False or
    0: off. The rate bound wins over it.
    ``parallelism``: partitions for keyed state and windows; by default the runner's
    (1 in-process, where more would only add routing work; the worker count otherwise).
    ``allow_changed_job=True`` resumes a checkpoint written by a different version of
    the job instead of refusing it (README, "Changing a job", says what is kept).
    ``ui=True`` (or ``{"port": 4040, "host": ..., "token": ..., "metrics_port": ...}``)
    serves the streaming web UI and Prometheus ``/metrics`` while the job runs
    (:mod:`etlcore.ui`, ``pip install 'etlcore[ui]'``); ``ctx.ui.url`` says where.
    ``keep_memory=True`` (or a number of MiB, True is 1024): when the job opens, this
    process keeps the memory a batch freed (pymalloc arenas, glibc's heap) mapped for
    the next batch instead of returning it to the OS, as the ``processes`` runner's
    workers always do. A batch that builds a million window rows then reuses pages
    instead of faulting them in again (W2 at 1M keys: ~14,000 fewer page faults,
    12-15% less CPU a batch in the runs measured). Off by default because it is
    process-wide and for good: it changes the allocator of the whole Python process
    (other jobs, the application around the job), which keeps up to that much freed
    memory and never gives it back.
    """

    def __init__(
        self,
        batch_interval: Any = 1.0,
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        name: str = "etlcore-job",
        clock: str | Clock | None = None,
        parallelism: int | None = None,
        checkpoint_interval: int = 10,
        max_rate_per_partition: float | None = None,
        backpressure: bool = False,
        state_codec: str = "msgpack",
        runner: str | Runner | None = None,
        workers: int | None = None,
        master: str | None = None,
        catch_up: int | bool | None = None,
        dead_letter: Any = None,
        allow_changed_job: bool = False,
        ui: Any = None,
        keep_memory: bool | int = False,
    ):
        self.batch_interval = parse_duration(batch_interval, "batch_interval")
        if self.batch_interval <= 0:
            raise ConfigError("batch_interval", "a positive duration", batch_interval)
        catch_up = catch_up_setting(catch_up)
        self.runner: Runner = make_runner(runner, workers=workers, master=master)
        self.catch_up_records = catch_up_records(catch_up, self.runner)
        if parallelism is None:
            parallelism = self.runner.default_parallelism
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
            raise ConfigError("parallelism", "a positive integer", parallelism)
        if not isinstance(checkpoint_interval, int) or checkpoint_interval < 1:
            raise ConfigError("checkpoint_interval", "a positive number of batches",
                              checkpoint_interval)
        if max_rate_per_partition is not None and (
            isinstance(max_rate_per_partition, bool)
            or not isinstance(max_rate_per_partition, (int, float))
            or not 0 < max_rate_per_partition < math.inf
        ):
            raise ConfigError("max_rate_per_partition", "a positive number of records/s",
                              max_rate_per_partition)
        if not isinstance(name, str) or not name:
            raise ConfigError("name", "a non-empty job name", name)
        if not isinstance(allow_changed_job, bool):
            raise ConfigError("allow_changed_job", "true or false", allow_changed_job)
        self.name = name
        self.allow_changed_job = allow_changed_job
        self.keep_memory_mib = check_keep_memory(keep_memory)
        # a Path, or the URL of a checkpoint on shared storage (s3://, hdfs://), checked
        # now: a missing bucket or plugin is an error before anything runs
        self.checkpoint_dir: Path | str | None = (
            None if checkpoint is None else check_location(checkpoint, "checkpoint"))
        self.clock = make_clock(clock)
        self.parallelism = parallelism
        self.checkpoint_interval = checkpoint_interval
        self.state_codec = state_codec
        controller = PIDRateController if backpressure else RateController
        self.rate_controller: RateController = controller(self.batch_interval,
                                                          max_rate_per_partition)
        self._graph = Graph()
        self._sql_tables: dict[str, Any] = {}  # name -> etlcore.sql.tables.StaticTable
        self._listeners: list[Callable[[BatchMetrics], Any]] = []
        self._scheduler: Scheduler | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if dead_letter is not None:
            self._set_dead_letter(dead_letter)
        self.ui: Any = None  # the running etlcore.ui.UI, while the job runs with one
        self._ui_options: Any = None
        self.enable_ui(ui)

    def enable_ui(self, options: Any = True) -> None:
        """Serve the web UI and ``/metrics`` while the job runs (``ui=`` of the constructor).

        Settings are checked, and the UI's libraries imported, now: a bad port or a
        missing ``etlcore[ui]`` is an error before anything runs.
        """
        from etlcore.ui.options import ui_options

        self._ui_options = ui_options(options)
        if self._ui_options is not None:
            from etlcore.ui import deps

            deps.check()

    # -- declaring sources ----------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        """Only reached for a missing name: Spark's camelCase gets a "did you mean"."""
        from etlcore.naming import missing_attribute

        raise missing_attribute(self, name)

    def source(self, plugin: str, /, *, name: str | None = None, **config: Any) -> Stream:
        """A stream from the source plugin ``plugin`` (config checked now)."""
        where = f"source '{name or plugin}'"
        source = get_registry().get("source", plugin).build(config, where=where)
        return Stream(self, self._graph.add_source(source, plugin, name))

    def stream(self, source: Source, *, name: str | None = None) -> Stream:
        """A stream from a Source instance."""
        return Stream(self, self._graph.add_source(source, type(source).__name__.lower(), name))

    def queue_stream(self, batches: Iterable[Iterable[Any]], *, name: str | None = None) -> Stream:
        """One batch per item of ``batches`` (Spark's queueStream, one at a time)."""
        return self.source("queue", name=name, batches=[list(b) for b in batches])

    def socket_text_stream(self, host: str, port: int, *, name: str | None = None) -> Stream:
        """Lines read from a TCP server (Spark's socketTextStream)."""
        return self.source("socket", name=name, host=host, port=port)

    def text_file_stream(self, path: str, *, name: str | None = None, **config: Any) -> Stream:
        """Lines of new files in a directory (Spark's textFileStream)."""
        return self.source("directory", name=name, path=path, **config)

    def register_table(self, name: str, source: Any, *, reload_every: int | None = None) -> None:
        """A static table ``name`` that ``stream.sql`` statements can read or join.

        ``source``: a Parquet/CSV path, a pandas DataFrame, a pyarrow Table, a list of
        dict records, or a function returning one of those (called on the driver at
        the first batch and every ``reload_every`` batches; a path is re-read likewise).
        Register tables before the ``sql`` that uses them. Needs ``etlcore[sql]``.
        """
        from etlcore.sql.tables import StaticTable

        table = StaticTable(name, source, reload_every)
        if name.lower() in {n.lower() for n in self._sql_tables}:
            raise ConfigError("register_table.name", "a name not registered yet", name)
        self._sql_tables[name] = table

    def _set_dead_letter(self, spec: Any) -> None:
        from etlcore.sink import Sink

        if isinstance(spec, Sink):
            self._graph.dead_letter_sink = spec
            return
        if isinstance(spec, str):
            spec = (spec, {})
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], dict)):
            raise ConfigError("dead_letter", "a Sink, a sink name, or (name, {config})", spec)
        plugin, config = spec
        self._graph.dead_letter_sink = get_registry().get("sink", plugin).build(
            config, where="dead_letter"
        )

    # -- observing --------------------------------------------------------------------
    def add_listener(self, fn: Callable[[BatchMetrics], Any]) -> None:
        """Call ``fn(metrics)`` after every committed batch."""
        self._listeners.append(fn)

    @property
    def metrics(self) -> JobMetrics:
        return self._get_scheduler().metrics

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        """Recent dead letters kept by the default dead-letter sink."""
        return list(getattr(self._graph.dead_letter_sink, "recent", []))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "batch_interval": self.batch_interval,
                "checkpoint": str(self.checkpoint_dir) if self.checkpoint_dir else None,
                "sources": [n.key for n in self._graph.sources],
                "sinks": [name for name, _ in self._graph.all_sinks()]}

    def _hook(self, name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook of every plugin; one that raises is logged, not fatal."""
        hook = getattr(get_registry().pm.hook, name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception as err:  # noqa: BLE001 - a dashboard must not stop the job
                _log.warning("plugin %s: %s raised %s: %s (the job goes on)",
                             impl.plugin_name, name, type(err).__name__, err)

    # -- running ------------------------------------------------------------------------
    def _get_scheduler(self) -> Scheduler:
        if self._scheduler is None:
            if not self._graph.outputs:
                raise ConfigError("", "the job has no output: add .sink(...) or "
                                  ".foreach_batch(...) to a stream", has_value=False)
            self._scheduler = Scheduler(self)
        return self._scheduler

    def open(self) -> None:
        """Open sources and sinks and recover from the checkpoint, without running a batch.

        Useful when a push source must be listening before data is sent; ``run`` and
        ``start`` open the job themselves if needed.
        """
        scheduler = self._get_scheduler()
        if not scheduler._opened:
            driver_keep_memory(self.keep_memory_mib)
            self._start_ui()
            try:
                scheduler.open()
            except BaseException:
                self._stop_ui()
                raise

    def _start_ui(self) -> None:
        if self._ui_options is not None and self.ui is None:
            from etlcore.ui import UI

            self.ui = UI(self, self._ui_options)
            self._listeners.append(self.ui)
            where = self.ui.url or self.ui.metrics_url
            _log.info("web UI of job %s on %s", self.name, where)

    def _stop_ui(self) -> None:
        if self.ui is not None:
            ui, self.ui = self.ui, None
            self._listeners.remove(ui)
            ui.stop()

    def run(self, batches: int | None = None, *, until_idle: bool = False,
            duration: Any = None) -> JobMetrics:
        """Run in this thread until ``batches`` ran, the sources are idle, or ``duration``."""
        seconds = None if duration is None else parse_duration(duration, "duration")
        self.open()
        scheduler = self._get_scheduler()
        try:
            scheduler.loop(batches=batches, until_idle=until_idle, duration=seconds)
        finally:
            try:
                scheduler.close()
            finally:
                self._stop_ui()
        return scheduler.metrics

    def start(self, **run_options: Any) -> None:
        """Run in a background thread; see :meth:`await_termination` and :meth:`stop`.

        Sources and sinks are opened, used and closed on that thread; ``start``
        returns once they are open (a push source is listening by then).
        """

        opened = threading.Event()

        def target() -> None:
            try:
                self.open()  # on the thread that runs the job: connectors see one thread
            except BaseException as err:  # noqa: BLE001 - re-raised by start
                self._error = err
                opened.set()
                return
            opened.set()
            try:
                self.run(**run_options)
            except BaseException as err:  # noqa: BLE001 - re-raised by await_termination
                self._error = err

        self._get_scheduler()
        self._thread = threading.Thread(target=target, name=f"etlcore-{self.name}", daemon=True)
        self._thread.start()
        opened.wait()  # push sources are listening when start returns
        if self._error is not None and not self._thread.is_alive():
            err, self._error = self._error, None
            raise err

    def await_termination(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; re-raise its error. True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return not self._thread.is_alive()

    def stop(self, graceful: bool = True) -> None:
        """Graceful: finish the batch in progress and commit. Otherwise stop at once."""
        if self._scheduler is None:
            if not self._graph.outputs:
                return
            self._get_scheduler()  # a stop before the run starts still counts
        assert self._scheduler is not None
        if graceful:
            self._scheduler.graceful_stop.set()
        else:
            self._scheduler.hard_stop.set()
            self._scheduler.interrupt()
        self._scheduler.wake.set()
