"""The settings the spark runner puts on a Spark driver it starts, and that the caller's
``conf`` wins over them.

A micro-batch job runs a Spark job a batch, so the runner starts its driver with
:func:`~etlcore.runners.spark.recommended_conf` (Python workers reused, and Unix domain
sockets between the JVM and Python: a loopback TCP stall costs a batch 40 ms).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from etlcore.errors import ConfigError
from etlcore.runners.spark import SparkRunner, recommended_conf

UDS = "spark.python.unix.domain.socket.enabled"
ROOT = Path(__file__).resolve().parents[2]


def test_a_driver_the_runner_starts_gets_the_recommended_settings():
    conf = SparkRunner(master="local[2]").spark_conf("job")
    assert recommended_conf()[UDS] == "true"  # Linux has AF_UNIX
    for key, value in recommended_conf().items():
        assert conf.get(key) == value, key
    assert conf.get("spark.master") == "local[2,4]"  # a failed task is retried, as on a cluster


def test_the_callers_conf_wins_over_the_runners_settings():
    conf = SparkRunner(master="local[2]", conf={UDS: "false", "spark.task.maxFailures": "2"}
                       ).spark_conf("job")
    assert conf.get(UDS) == "false"
    assert conf.get("spark.task.maxFailures") == "2"
    assert conf.get("spark.python.worker.reuse") == "true"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_driver_records_is_a_count_of_records(bad):
    assert SparkRunner(master="local[2]").driver_records == 0  # off unless asked
    assert SparkRunner(master="local[2]", driver_records=500).driver_records == 500
    with pytest.raises(ConfigError, match="driver_records"):
        SparkRunner(master="local[2]", driver_records=bad)


JOB = textwrap.dedent("""
    import json, sys
    from etlcore import StreamingContext
    from etlcore.connectors.queue import MemorySink
    from etlcore.runners.spark import SparkRunner

    def run(runner):
        ctx = StreamingContext(1.0, clock="manual", name="conf-" + str(id(runner)),
                               runner=runner, parallelism=2, catch_up=False)
        words = ctx.queue_stream([["a b a", "c"], ["b b", "d"], ["a"]]).flat_map(str.split)
        (words.map(lambda w: (w, 1))
              .update_state_by_key(lambda new, old: (old or 0) + sum(new))
              .sink("memory", name="conf-" + str(id(runner))))
        ctx.run(batches=3)
        return {k: sorted(v) for k, v in MemorySink.batches("conf-" + str(id(runner))).items()}

    class Probe(SparkRunner):
        def stop(self):  # the driver's settings, read before the runner stops it
            if self._sc is not None:
                self.uds = self._sc.getConf().get(sys.argv[1])
            super().stop()

    STEPS = [[(s * 2.0 + i * 0.3 - (i % 3), i % 4, i) for i in range(5)] for s in range(12)]

    def windows(runner):  # the runner's default catch-up (spark: on, local: off)
        name = "win-" + str(id(runner))
        ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2)
        (ctx.queue_stream(STEPS).with_event_time(time=0, max_delay="4s")
            .tumbling_window("3s", key=1, value=2, agg="sum").sink("memory", name=name))
        sizes = []
        ctx.add_listener(lambda m: sizes.append(m.records_in))
        ctx.run(until_idle=True)
        rows = sorted((r.key, r.window_start, r.value) for r in MemorySink.results(name))
        return rows, sum(1 for n in sizes if n)

    runner = Probe(master="local[2]")
    got = run(runner)
    coalesced, spark_batches = windows(SparkRunner(master="local[2]"))
    stepped, local_batches = windows("local")
    print(json.dumps({"uds": runner.uds, "same": got == run("local"), "rows": sum(map(len, got.values())),
                      "catch_up_same": coalesced == stepped and bool(stepped),
                      "batches": [spark_batches, local_batches]}))
""")


def test_a_stateful_job_on_the_runners_own_local_driver_matches_local(tmp_path):
    """The runner's own driver (Unix sockets on) runs a chained stateful batch as the local
    runner does; in a child, as the only Spark driver of its process. With its default
    catch-up it plans a queued backlog as one batch, and stores the windows the local
    runner stores one queued batch at a time."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run([sys.executable, "-c", JOB, UDS], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"uds": "true", "same": True, "rows": out["rows"], "catch_up_same": True,
                   "batches": [1, 12]}  # the spark runner plans the backlog in one batch
    assert out["rows"] >= 6
