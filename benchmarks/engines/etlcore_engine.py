"""etlcore itself, written as a user would: a source, operators, an output.

The same class serves the compiled kernels and, in a child started with
``ETLCORE_PURE_PYTHON=1``, the pure-Python reference kernels. Each run builds a
fresh StreamingContext (manual clock: batches run back to back) over a source
that serves ``BATCH_SIZE`` records a batch: for W1/W3 a
:class:`~benchmarks.engines.etlcore_io.LineFileSource` reading the workload's line
file where each task runs (batches of ``BATCH_SIZE`` average lines' bytes), for
W2/W4 a :class:`~benchmarks.engines.etlcore_io.BenchSource` over the records.

Catch-up batches (:mod:`etlcore.catchup`) follow the runner's default (spark: on, so a
W2/W4 backlog of ``BATCH_SIZE`` steps is planned in batches of up to 1,000,000 records,
a tail of up to a tenth of that going with the last full batch;
local and processes: off); ``ETLCORE_BENCH_CATCH_UP=off`` keeps one step a batch (the
50,000-record yardstick). The row's note says how the input was cut.

``ETLCORE_BENCH_RUNNER`` picks the runner (``local``, ``processes``, ``spark``;
the suite's ``--runners``) and ``ETLCORE_BENCH_WORKERS`` its worker count
(``--workers``); the source then has one partition per worker. Each run is a
new job: under ``processes`` the job takes over the worker pool the previous
run (the warm-up, for the first timed run) left, as a later job of one driver
process does, and sends its program to each worker inside the timed run. Under
``spark`` the SparkContext is made in ``setup`` (timed as startup, as
``spark-rdd``'s session is) and every run's job uses it through
``SparkRunner(context=sc)``; ``ETLCORE_BENCH_SPARK_MASTER`` overrides the
master (default ``local[workers]``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from benchmarks.data import FLUSH_KEY, MAX_DELAY_S, SESSION_GAP_S, LineFile
from benchmarks.engines.base import CountingSink, Engine, valid_amount, w3_schema
from benchmarks.reference import w2_row, w4_row

BATCH_SIZE = int(os.environ.get("ETLCORE_BENCH_BATCH", "50000"))  # records per micro-batch
_PARALLELISM = os.environ.get("ETLCORE_BENCH_PARALLELISM")  # unset: StreamingContext's default
PARALLELISM = int(_PARALLELISM) if _PARALLELISM else None
RUNNER = os.environ.get("ETLCORE_BENCH_RUNNER", "local")
WORKERS = int(os.environ.get("ETLCORE_BENCH_WORKERS", "2"))
SPARK_KEEP = os.environ.get("ETLCORE_BENCH_SPARK_KEEP") == "1"  # SparkRunner(keep_state=True)
W3_API = os.environ.get("ETLCORE_BENCH_W3", "typed")  # "stdlib": json.loads + filter + map
# catch-up batches (etlcore.catchup): unset, the runner's default (spark: on, local and
# processes: off); "off" keeps one BATCH_SIZE step a batch (the yardstick), "on" or records
CATCH_UP = os.environ.get("ETLCORE_BENCH_CATCH_UP") or None


class Etlcore(Engine):
    name = "etlcore"
    sc: Any = None  # the spark runner's SparkContext, made once in setup
    runner = RUNNER  # an instance may set its own before setup (benchmarks/runner_feed.py)

    def setup(self) -> None:
        import etlcore
        from etlcore import _fast

        self.etlcore = etlcore
        self.compiled = _fast.COMPILED
        self.name = "etlcore" if self.compiled else "etlcore-pure"
        if W3_API == "stdlib":
            self.name = "etlcore-stdlib-json"
        self.partitions = 1
        where = "LocalRunner"
        if self.runner == "processes":
            self.partitions = WORKERS
            where = f"ProcessRunner, {WORKERS} workers"
        elif self.runner == "spark":
            self.sc = _spark_context(os.environ.get("ETLCORE_BENCH_SPARK_MASTER")
                                     or f"local[{WORKERS}]")
            self.partitions = max(1, int(self.sc.defaultParallelism))
            where = f"SparkRunner, {self.sc.master}"
        elif self.runner != "local":
            raise ValueError(f"ETLCORE_BENCH_RUNNER={self.runner!r}: local, processes or spark")
        self._base_note = (f"batch {BATCH_SIZE} records, {self.partitions} source "
                           f"partition(s), parallelism {PARALLELISM or 'default'}, {where}, "
                           f"{'compiled' if self.compiled else 'pure-Python'} kernels; "
                           f"W2: tumbling_window(rows={self.w2_rows!r}), "
                           f"StreamingContext(keep_memory={self.w2_keep_memory!r})")
        self.note = self._base_note
        self._sizes: list[int] = []  # records of each non-empty batch of the last run

    def version(self) -> str:
        return f"{self.etlcore.__version__}+{'compiled' if self.compiled else 'pure'}"

    def close(self) -> None:
        if self.sc is None:
            return
        try:  # the JVM's peak RSS, reported beside the child's as spark-rdd does
            pid = self.sc._jvm.java.lang.ProcessHandle.current().pid()
            with open(f"/proc/{pid}/status") as f:
                hwm = next(ln for ln in f if ln.startswith("VmHWM:"))
            self.extra_rss_mb = round(int(hwm.split()[1]) / 1024, 1)
        except (OSError, StopIteration):
            pass
        self.sc.stop()

    #: W2 as a user who cares about speed writes it (both documented, both opt-in):
    #: compact window rows (the job only reads fields) and the driver keeping freed memory
    w2_rows = "compact"
    w2_keep_memory = True

    def _context(self, **options: Any) -> Any:
        runner: Any = self.runner
        if self.runner == "spark":
            from etlcore.runners.spark import SparkRunner

            runner = SparkRunner(context=self.sc, keep_state=SPARK_KEEP)
        ctx = self.etlcore.StreamingContext(
            batch_interval="1s", clock="manual", parallelism=PARALLELISM, runner=runner,
            workers=WORKERS if self.runner == "processes" else None, catch_up=CATCH_UP,
            **options)
        sizes: list[int] = []
        self._sizes = sizes

        def batch_done(m: Any) -> None:
            if m.records_in:
                sizes.append(m.records_in)

        ctx.add_listener(batch_done)
        self._catch_up = ctx.catch_up_records
        return ctx

    def _noted(self, result: Any) -> Any:
        """``result``, after the note says how the last run cut its input into batches."""
        sizes = self._sizes
        most = max(sizes, default=0)
        if self._catch_up is None:
            how = "catch-up off"
        elif most > BATCH_SIZE:
            how = (f"catch-up batches (cap {self._catch_up} records): {len(sizes)} batches, "
                   f"up to {most} records")
        else:
            how = f"catch-up on (cap {self._catch_up} records), no batch coalesced"
        self.note = f"{self._base_note}, {how}"
        return result

    def _source(self, records: Any, binary: bool = False) -> Any:
        """W1/W3 (a :class:`LineFile`): read where each task runs; W2/W4: held by the driver.

        ``binary`` keeps W3's lines as bytes: JSON is parsed from the bytes a file or topic
        holds, as the plain loops parse each line they read in binary mode.
        """
        from benchmarks.engines.etlcore_io import BenchSource, LineFileSource

        if isinstance(records, LineFile):
            return LineFileSource.of_lines(records.path, records.records, BATCH_SIZE,
                                           self.partitions, binary)
        return BenchSource(records, BATCH_SIZE, self.partitions)

    # -- W1 word count ------------------------------------------------------------
    def run_W1(self, lines: LineFile) -> dict[str, int]:
        totals: dict[str, int] = {}

        def merge(batch_id: int, counts: list[tuple[str, int]]) -> None:
            get = totals.get
            for word, n in counts:
                totals[word] = get(word, 0) + n

        ctx = self._context()
        (ctx.stream(self._source(lines))
            .flat_map(str.split)
            .count_by_value()  # Spark's countByValue; map((w, 1)).reduce_by_key costs a tuple a word
            .foreach_batch(merge))
        ctx.run(until_idle=True)
        return self._noted(totals)

    def rows_W1(self, totals: dict[str, int]) -> Any:
        return totals.items()

    # -- W2 keyed tumbling event-time window sum ------------------------------------
    def run_W2(self, records: list[tuple[float, int, float]]) -> list[Any]:
        out: list[Any] = []
        ctx = self._context(keep_memory=self.w2_keep_memory)
        stream = ctx.stream(self._source(records))
        # field references: the window kernel reads (ts, key, value) tuples itself
        windows = (stream.with_event_time(time=0, max_delay=f"{MAX_DELAY_S}s")
                   .tumbling_window(f"{self.window_s}s", key=1, value=2, agg="sum",
                                    rows=self.w2_rows))
        windows.foreach_batch(lambda _, rows: out.extend(rows))
        ctx.run(until_idle=True)
        return self._noted(out)

    def rows_W2(self, out: list[Any]) -> Any:
        return [w2_row(r.key, r.window_start, r.value) for r in out if r.key != FLUSH_KEY]

    # -- W3 JSON parse, validate, project, sink -------------------------------------
    def run_W3(self, lines: LineFile) -> CountingSink:
        from benchmarks.engines.etlcore_io import EtlCountingSink

        sink = EtlCountingSink()
        ctx = self._context()
        stream = ctx.stream(self._source(lines, binary=True))
        if W3_API == "stdlib":  # the job as written before the typed decoder
            stream = (stream.map(json.loads, on_error="dead_letter")
                      .filter(valid_amount)
                      .map(lambda r: (r["id"], r["user"], r["amount"])))
        else:  # parse, validate (types, amount >= 0) and project in one C pass
            stream = stream.parse_json(w3_schema(), required=["id", "user", "amount"],
                                       output="tuple")
        stream.to(sink, name="counting")
        ctx.run(until_idle=True)
        return self._noted(sink.totals)

    def rows_W3(self, totals: CountingSink) -> Any:
        return [totals.row()]

    # -- W4 sessionization ----------------------------------------------------------
    def run_W4(self, events: list[tuple[float, int]]) -> list[Any]:
        out: list[Any] = []
        ctx = self._context()
        stream = ctx.stream(self._source(events))
        (stream.with_event_time(time=0, max_delay=f"{MAX_DELAY_S}s")
            .session_window(f"{SESSION_GAP_S}s", key=1, agg="count")
            .foreach_batch(lambda _, rows: out.extend(rows)))
        ctx.run(until_idle=True)
        return self._noted(out)

    def rows_W4(self, out: list[Any]) -> Any:
        return [w4_row(s.key, s.window_start, s.count,
                       s.window_end - SESSION_GAP_S - s.window_start)
                for s in out if s.key != FLUSH_KEY]


def _spark_context(master: str) -> Any:
    """A SparkContext configured as ``spark-rdd``'s session (driver memory 1g, no UI), plus
    the settings the spark runner puts on a context it makes itself
    (:func:`etlcore.runners.spark.recommended_conf`), as a user handing one in would."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark import SparkConf, SparkContext

    from etlcore.runners.spark import recommended_conf

    conf = (SparkConf().setMaster(master).setAppName("etlcore-bench")
            .set("spark.driver.memory", "1g")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
            .set("spark.python.worker.reuse", "true")
            .setAll(recommended_conf().items()))
    sc = SparkContext.getOrCreate(conf)
    sc.setLogLevel("ERROR")
    return sc


ENGINE = Etlcore
