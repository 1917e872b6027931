"""etlcore's runners on W1/W3 fed two ways: records the driver holds, and records a reader reads.

``python benchmarks/runner_feed.py [--workloads W1,W3] [--pairs 5] [--workers 2] [--json FILE]``

The ``file`` feed is the suite's (since 2026-12-05): the lines are written to a
file once (untimed) and read through
:class:`~benchmarks.engines.etlcore_io.LineFileSource`, whose reader runs where
the task runs: a task carries ``(partition, start, end)`` and the worker reads,
decodes and splits its own byte range, as Kafka and file readers do. Under
``local`` the driver reads the same file, so both runners pay the same read.
The ``driver`` feed is the suite's earlier one: a list in the driver's memory
(``BenchSource``: the driver slices every batch and the runner ships each
slice), as ``spark-rdd``'s ``parallelize`` does; the worst case for a runner whose
workers are other processes, since every record is serialised by the driver,
sent and rebuilt.

Runs are interleaved (local, processes, local, ...) after one warm-up each, in
one process: every pair sees the same neighbours on a shared machine.
``--driver-keeps-memory`` gives the driver, and so ``local``, the memory settings
the processes runner gives its workers (freed arenas and heap kept for the next
batch), for a comparison in which only the runner differs. Reported:
median wall time, the driver's CPU and the workers' CPU (from ``/proc``) per run,
the median of the paired ``local / processes`` wall ratios, and whether every
answer matched the reference checksum. Not part of ``python -m benchmarks``:
this compares etlcore's runners only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.data import Spec, line_file, load  # noqa: E402
from benchmarks.engines import etlcore_engine  # noqa: E402
from benchmarks.reference import checksum, reference_checksum  # noqa: E402

SIZES = {"W1": 200_000, "W3": 500_000}
RUNNERS = ("local", "processes")


def _workers_cpu() -> float:
    """CPU seconds used so far by the worker processes of every pool of this process."""
    from etlcore.runners import workerpool

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pool in list(workerpool._every):
        for w in pool.slots:
            if w is None:
                continue
            try:
                fields = Path(f"/proc/{w.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _engines(workload: str, feed: Any) -> dict[str, Any]:
    """One prepared engine per runner, fed ``feed`` (a ``LineFile`` or the records)."""
    out = {}
    for runner in RUNNERS:
        engine = etlcore_engine.Etlcore()
        engine.runner = runner
        engine.window_s = 1
        engine.setup()
        out[runner] = (engine, engine.prepare(workload, feed))
    return out


def measure(workload: str, feed: str, pairs: int, workers: int) -> dict[str, Any]:
    spec = Spec(workload, SIZES[workload])
    data = load(spec)
    want = reference_checksum(workload, data)
    engines = _engines(workload, line_file(spec, data) if feed == "file" else data)
    runs: dict[str, list[tuple[float, float, float]]] = {r: [] for r in RUNNERS}
    correct = True
    load_before = os.getloadavg()[0]
    for i in range(pairs + 1):  # the first pair warms up (and starts the pool)
        for runner in RUNNERS:
            engine, prepared = engines[runner]
            gc.collect()
            w0 = _workers_cpu()
            t, c = time.perf_counter(), time.process_time()
            result = engine.run(workload, prepared)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            used = _workers_cpu() - w0
            correct &= checksum(engine.rows(workload, result)) == want
            if i:
                runs[runner].append((wall, cpu, used))
    row: dict[str, Any] = {"workload": workload, "feed": feed, "workers": workers,
                           "records": len(data), "correct": correct,
                           "load_1min": [load_before, os.getloadavg()[0]]}
    for runner, xs in runs.items():
        row[runner] = {"records_per_s": len(data) / statistics.median(x[0] for x in xs),
                       "wall_s": [x[0] for x in xs], "driver_cpu_s": [x[1] for x in xs],
                       "workers_cpu_s": [x[2] for x in xs]}
    row["x_local"] = statistics.median(
        a[0] / b[0] for a, b in zip(runs["local"], runs["processes"], strict=True))
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="W1,W3")
    ap.add_argument("--feeds", default="driver,file")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--driver-keeps-memory", action="store_true",
                    help="give the driver (so `local`) the workers' memory settings too: "
                         "the arena cache and glibc thresholds of etlcore.runners.workermem")
    args = ap.parse_args(argv)
    if args.driver_keeps_memory:
        from etlcore.runners import workermem

        workermem.keep_arenas()
    etlcore_engine.WORKERS = args.workers
    rows = []
    print(f"{'workload':8} {'feed':6} {'local rec/s':>12} {'processes':>12} {'x local':>8} "
          f"{'CPU local':>9} {'CPU drv+wrk':>12} {'load':>10}  correct")
    for workload in args.workloads.split(","):
        for feed in args.feeds.split(","):
            row = measure(workload, feed, args.pairs, args.workers)
            rows.append(row)
            loc, pro = row["local"], row["processes"]
            med = statistics.median
            print(f"{workload:8} {feed:6} {loc['records_per_s']:12,.0f} "
                  f"{pro['records_per_s']:12,.0f} {row['x_local']:8.2f} "
                  f"{med(loc['driver_cpu_s']):9.3f} "
                  f"{med(pro['driver_cpu_s']):5.3f}+{med(pro['workers_cpu_s']):.3f} "
                  f"{row['load_1min'][0]:4.1f}-{row['load_1min'][1]:4.1f}  {row['correct']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
