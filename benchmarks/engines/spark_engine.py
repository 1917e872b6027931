"""Apache Spark local[N]: the RDD API (``spark-rdd``); Structured Streaming (``spark-sss``).

N is ``ETLCORE_BENCH_WORKERS`` (the suite's ``--workers``, default 2), the same
cores etlcore's spark runner gets; ``ETLCORE_BENCH_SPARK_MASTER`` overrides the
master for both. The driver gets 1 GiB (``spark.driver.memory``);
``SPARK_LOCAL_IP=127.0.0.1``. W1 and W3 read the workload's line file inside the
timed run: ``sc.textFile(path, N)`` (RDD), the text source over a directory holding
that file (Structured Streaming: one file, so one trigger). W2/W4 RDD runs
parallelize the in-memory records into N partitions, so shipping them to the
Python workers is part of the timed work (as it is for a real job); Structured
Streaming reads them from Parquet files written at prepare time, one file per
``SSS_BATCH`` records and one file per trigger.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from operator import add
from typing import Any

from benchmarks.data import FLUSH_KEY, MAX_DELAY_S, SESSION_GAP_S, LineFile
from benchmarks.engines.base import CountingSink, Engine, Unsupported
from benchmarks.reference import w2_row, w3_row, w4_row

MODE = os.environ.get("BENCH_SPARK_MODE", "rdd")
SSS_BATCH = 200_000
WORKERS = int(os.environ.get("ETLCORE_BENCH_WORKERS", "2"))
MASTER = os.environ.get("ETLCORE_BENCH_SPARK_MASTER") or f"local[{WORKERS}]"


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _valid(rec: Any) -> bool:
    if rec is None:
        return False
    amount = rec.get("amount")
    return type(amount) in (int, float) and amount >= 0


def _fold(records: Any) -> list[tuple[int, int, float, int]]:
    sink = CountingSink()
    sink.add_all(records)
    return [sink.row()]


def _sessions(item: tuple[int, Any]) -> list[tuple[int, float, int, float]]:
    user, times = item
    times = sorted(times)
    out = []
    start = prev = times[0]
    n = 1
    for t in times[1:]:
        if t - prev > SESSION_GAP_S:
            out.append((user, start, n, prev - start))
            start, n = t, 0
        prev = t
        n += 1
    out.append((user, start, n, prev - start))
    return out


class Spark(Engine):
    name = f"spark-{MODE}"
    note = f"{MASTER}, driver memory 1g" + (", RDD API" if MODE == "rdd" else
                                            f", Structured Streaming, {SSS_BATCH} records/trigger")

    def setup(self) -> None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        self.spark = (SparkSession.builder.master(MASTER).appName("etlcore-bench")
                      .config("spark.driver.memory", "1g")
                      .config("spark.ui.enabled", "false")
                      .config("spark.sql.shuffle.partitions", str(WORKERS))
                      .config("spark.sql.session.timeZone", "UTC")
                      .getOrCreate())
        self.sc = self.spark.sparkContext
        self.sc.setLogLevel("ERROR")
        self.parts = max(1, int(self.sc.defaultParallelism))
        self.tmp = tempfile.mkdtemp(prefix="bench-spark-")

    def version(self) -> str:
        return self.spark.version

    def prepare(self, workload: str, data: Any) -> Any:
        if MODE == "rdd":
            return data
        if workload not in ("W1", "W2", "W3", "W4"):
            raise Unsupported(f"spark-sss: {workload} not implemented")
        if isinstance(data, LineFile):  # the text source reads a directory: link the file in
            path = os.path.join(self.tmp, workload)
            os.makedirs(path)
            os.symlink(os.path.abspath(data.path), os.path.join(path, "part-000000.txt"))
            return path
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = os.path.join(self.tmp, workload)
        os.makedirs(path)
        for i in range(0, len(data), SSS_BATCH):
            chunk = data[i:i + SSS_BATCH]
            if workload == "W4":
                ts, user = zip(*chunk, strict=True)
                table = pa.table({"ts": list(ts), "user": list(user)})
            else:
                ts, key, value = zip(*chunk, strict=True)
                table = pa.table({"ts": list(ts), "key": list(key), "value": list(value)})
            pq.write_table(table, os.path.join(path, f"part-{i // SSS_BATCH:06d}.parquet"))
        return path

    def close(self) -> None:
        pid = self.spark._jvm.java.lang.ProcessHandle.current().pid()
        try:
            with open(f"/proc/{pid}/status") as f:
                hwm = next(ln for ln in f if ln.startswith("VmHWM:"))
            self.extra_rss_mb = round(int(hwm.split()[1]) / 1024, 1)  # the JVM's peak
        except (OSError, StopIteration):
            pass
        self.spark.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, workload: str, prepared: Any) -> Any:
        if MODE == "rdd":
            return super().run(workload, prepared)
        return getattr(self, f"sss_{workload}")(prepared)

    # -- RDD --------------------------------------------------------------------
    def _text(self, feed: LineFile) -> Any:
        """The line file as an RDD of lines, in ``parts`` input splits."""
        return self.sc.textFile("file://" + os.path.abspath(feed.path), self.parts)

    def run_W1(self, feed: LineFile) -> Any:
        return (self._text(feed).flatMap(str.split).map(lambda w: (w, 1))
                .reduceByKey(add).collect())

    def run_W2(self, records: list[Any]) -> Any:
        return (self.sc.parallelize(records, self.parts)
                .map(lambda r: ((r[1], math.floor(r[0])), r[2]))
                .reduceByKey(add).collect())

    def run_W3(self, feed: LineFile) -> Any:
        folds = (self._text(feed).map(_parse).filter(_valid)
                 .map(lambda r: (r["id"], r["user"], r["amount"]))
                 .mapPartitions(_fold).collect())
        return [tuple(map(sum, zip(*folds, strict=True)))]

    def run_W4(self, events: list[Any]) -> Any:
        return (self.sc.parallelize(events, self.parts).map(lambda e: (e[1], e[0])).groupByKey()
                .flatMap(_sessions).collect())

    def rows_W2(self, out: Any) -> Any:
        if MODE == "sss":
            return [w2_row(k, w, v) for k, w, v in out if k != FLUSH_KEY]
        return [w2_row(k, w, v) for (k, w), v in out if k != FLUSH_KEY]

    def rows_W3(self, out: Any) -> Any:
        return [w3_row(*(0 if v is None else v for v in out[0]))]

    def rows_W4(self, out: Any) -> Any:
        return [w4_row(*s) for s in out if s[0] != FLUSH_KEY]

    # -- Structured Streaming -----------------------------------------------------
    def _stream(self, path: str, schema: str) -> Any:
        return (self.spark.readStream.schema(schema).option("maxFilesPerTrigger", 1)
                .parquet(path))

    def _lines(self, path: str) -> Any:
        """The text source over ``path``'s directory: one ``line`` column."""
        return (self.spark.readStream.option("maxFilesPerTrigger", 1).text(path)
                .withColumnRenamed("value", "line"))

    def _drain(self, df: Any, mode: str) -> list[Any]:
        name = f"q{abs(hash((id(df), mode)))}"
        query = (df.writeStream.outputMode(mode).format("memory").queryName(name)
                 .trigger(availableNow=True).start())
        query.awaitTermination()
        rows = self.spark.sql(f"SELECT * FROM {name}").collect()
        self.spark.catalog.dropTempView(name)
        return rows

    def sss_W1(self, path: str) -> Any:
        from pyspark.sql import functions as F

        words = self._lines(path).select(
            F.explode(F.split("line", " ")).alias("word"))
        return [tuple(r) for r in self._drain(words.groupBy("word").count(), "complete")]

    def sss_W2(self, path: str) -> Any:
        from pyspark.sql import functions as F

        events = (self._stream(path, "ts DOUBLE, key BIGINT, value DOUBLE")
                  .withColumn("t", F.col("ts").cast("timestamp"))
                  .withWatermark("t", f"{int(MAX_DELAY_S * 1000)} milliseconds"))
        sums = (events.groupBy(F.window("t", "1 second"), "key").agg(F.sum("value").alias("v"))
                .select("key", F.unix_timestamp(F.col("window.start")).alias("w"), "v"))
        return [tuple(r) for r in self._drain(sums, "append")]

    def sss_W3(self, path: str) -> Any:
        """from_json with W3's schema (malformed lines give nulls), the filter, a running
        count/sum aggregate in complete mode: the counting sink's four numbers."""
        from pyspark.sql import functions as F

        rec = F.from_json("line", "id BIGINT, user STRING, amount DOUBLE")
        valid = (self._lines(path).select(rec.alias("r")).select("r.*")
                 .where(F.col("amount").isNotNull() & (F.col("amount") >= 0)))
        folded = valid.agg(F.count("*"), F.sum("id"), F.sum("amount"),
                           F.sum(F.length("user")))
        return [tuple(r) for r in self._drain(folded, "complete")]

    def sss_W4(self, path: str) -> Any:
        """session_window (gap 30 s) per user under a 1 s watermark, append mode."""
        from pyspark.sql import functions as F

        events = (self._stream(path, "ts DOUBLE, user BIGINT")
                  .withColumn("t", F.col("ts").cast("timestamp"))
                  .withWatermark("t", f"{int(MAX_DELAY_S * 1000)} milliseconds"))
        sessions = (events.groupBy(F.session_window("t", f"{int(SESSION_GAP_S)} seconds"), "user")
                    .agg(F.count("*").alias("n"), F.min("ts").alias("first"),
                         F.max("ts").alias("last"))
                    .select("user", "first", "n", (F.col("last") - F.col("first")).alias("d")))
        return [tuple(r) for r in self._drain(sessions, "append")]


ENGINE = Spark
