"""The suite: which workloads at which sizes, W5's hand-off to kafka_e2e.py, and scaling."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.data import Spec
from benchmarks.engines import on_runner
from benchmarks.harness import ROOT, child_env, run_engine

FULL = {"W1": 200_000, "W2": 2_000_000, "W3": 500_000, "W4": 1_000_000}
QUICK = {"W1": 20_000, "W2": 300_000, "W3": 50_000, "W4": 100_000}
WORKLOADS = ["W1", "W2", "W3", "W4", "W5"]
ONLY = {engine: ("W3",) for engine in ("plain-msgspec", "plain-msgspec-typed",
                                        "etlcore-stdlib-json")}  # W3's JSON yardsticks

Report = Callable[[dict[str, Any]], None]


def _workers_env(workers: int) -> dict[str, str]:
    """Children's worker count: etlcore's processes/spark runners and spark-rdd's local[N]."""
    return {"ETLCORE_BENCH_WORKERS": str(workers)}


def _runner_fields(row: dict[str, Any], workers: int) -> None:
    engine = row["engine"]
    if engine.endswith("]"):
        runner = engine[engine.index("[") + 1:-1]
        row.update(runner=runner, workers=1 if runner == "local" else workers)
    elif engine.startswith("spark"):
        row["workers"] = workers


def run_suite(workloads: list[str], engines: list[str], quick: bool, report: Report,
              workers: int = 2) -> list[dict]:
    sizes = QUICK if quick else FULL
    repeat, budget, timeout = (2, 20.0, 300.0) if quick else (3, 60.0, 1800.0)
    rows = []
    for workload in workloads:
        if workload == "W5":
            row = run_w5(quick)
            report(row)
            rows.append(row)
            continue
        spec = Spec(workload, sizes[workload])
        for engine in engines:
            if workload not in ONLY.get(engine, (workload,)):
                continue
            row = run_engine(engine, spec, repeat, timeout, budget, _workers_env(workers))
            _runner_fields(row, workers)
            report(row)
            rows.append(row)
    return rows


RUNNER_SCALING = ("W1", "W3")


def run_runner_scaling(runners: list[str], max_workers: int, quick: bool,
                       report: Report) -> list[dict[str, Any]]:
    """W1 and W3 records/s against the number of workers (1..max_workers) per parallel runner.

    ``local`` (always one worker) is one row per workload: the baseline of ``x local``.
    Rows are ``workload="W1 workers=2"`` with ``base="W1"``.
    """
    sizes = QUICK if quick else FULL
    repeat, budget, timeout = (2, 20.0, 300.0) if quick else (3, 60.0, 1800.0)
    rows = []
    for workload in RUNNER_SCALING:
        spec = Spec(workload, sizes[workload])
        for runner in runners:
            counts = [1] if runner == "local" else list(range(1, max_workers + 1))
            for n in counts:
                row = run_engine(on_runner(runner), spec, repeat, timeout, budget,
                                 _workers_env(n))
                _runner_fields(row, n)
                row.update(workload=f"{workload} workers={n}", base=workload, axis="workers",
                           point=n)
                report(row)
                rows.append(row)
    return rows


def _broker_up(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def run_w5(quick: bool) -> dict[str, Any]:
    """W5 (Kafka end to end) through benchmarks/kafka_e2e.py, when it, the plugin and a broker exist.

    kafka_e2e.py writes one JSON object: medians of interleaved raw-consume and
    etlcore runs, and whether every run's output topic matched its reference.
    """
    row: dict[str, Any] = {"workload": "W5", "engine": "etlcore+kafka"}
    script = ROOT / "benchmarks" / "kafka_e2e.py"
    bootstrap = os.environ.get("ETLCORE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    if not (ROOT / "plugins" / "kafka").is_dir():
        row["error"] = "skipped: plugins/kafka is not present"
    elif not script.exists():
        row["error"] = "skipped: benchmarks/kafka_e2e.py is not present"
    elif not _broker_up(bootstrap):
        row["error"] = f"skipped: no Kafka broker at {bootstrap} (ETLCORE_KAFKA_BOOTSTRAP)"
    if "error" in row:
        return row
    records = 50_000 if quick else 200_000
    out = ROOT / "bench-results" / "w5.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(script), "--records", str(records), "--bootstrap", bootstrap,
           "--json", str(out)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=child_env({}), capture_output=True, text=True,
                              timeout=1800)
    except subprocess.TimeoutExpired:
        return {**row, "error": "kafka_e2e.py timed out"}
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip()[-300:]
        return {**row, "error": f"kafka_e2e.py exited {proc.returncode}: {tail}"}
    got = json.loads(Path(out).read_text())
    row.update(records=got.get("records"), records_per_s=round(got["etlcore_records_per_s"]),
               raw_consume_records_per_s=round(got["raw_consume_records_per_s"]),
               vs_raw_consume=round(got["ratio"], 3), partitions=got.get("partitions"),
               correct=got["correct"], checksum=got["checksum"], reference=got["reference"],
               seconds=[], startup_s=None, peak_rss_mb=None,
               vs_raw_consume_untyped=round(got["variants"]["untyped"]["ratio"], 3)
               if "untyped" in got["variants"] else None,
               note="kafka_e2e.py: topic -> JSON (value_schema {user: str}) -> "
                    "reduce_by_key_and_window(count, key='user') -> topic (transactional); "
                    "output read back "
                    "and checked against a reference")
    return row


SCALING = {
    "batch size": [("ETLCORE_BENCH_BATCH", b) for b in (10_000, 50_000, 200_000)],
    "keys": [("keys", k) for k in (1_000, 10_000, 100_000, 1_000_000)],
    "window length s": [("window_s", w) for w in (1, 5, 20)],
}


def run_scaling(engines: list[str], quick: bool, report: Report) -> list[dict[str, Any]]:
    """W2 records/s and peak RSS as batch size, number of keys and window length grow."""
    records = QUICK["W2"] if quick else 1_000_000
    rows = []
    for axis, points in SCALING.items():
        for knob, value in points:
            spec = Spec("W2", records, keys=value if knob == "keys" else 10_000,
                        window_s=value if knob == "window_s" else 1)
            env = {knob: str(value)} if knob.startswith("ETLCORE") else {}
            for engine in engines:
                if knob.startswith("ETLCORE") and not engine.startswith("etlcore"):
                    continue
                row = run_engine(engine, spec, 2, 900.0, 30.0, env)
                row.update(workload=f"W2 {axis}={value:,}", axis=axis, point=value)
                report(row)
                rows.append(row)
    return rows
