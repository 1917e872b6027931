"""One engine on one workload, in its own process: ``python -m benchmarks.child ...``.

W1 and W3 are handed to the engine as a :class:`~benchmarks.data.LineFile` (see
:mod:`benchmarks.data`); the others as the records themselves.
Prints one line ``BENCH_RESULT {json}``: startup (import + setup), the wall time
of every run after an untimed warm-up run, the checksum of every run's answer and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
import traceback
from importlib import import_module
from typing import Any

from benchmarks.data import FILE_FED, Spec, line_file, load
from benchmarks.reference import checksum

MARK = "BENCH_RESULT "


def peak_rss_kb() -> int:
    """This process's peak RSS in KiB.

    Linux carries ``getrusage(RUSAGE_SELF).ru_maxrss`` across fork+exec, so a child
    of a big parent reports the parent's peak; VmHWM in /proc/self/status belongs
    to this process's own memory map. getrusage is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(module: str, spec: Spec, repeat: int, budget: float) -> dict[str, Any]:
    """Set the engine up, run it ``repeat`` times, checksum every answer."""
    t0 = time.perf_counter()
    engine = import_module(module).ENGINE()
    engine.window_s = spec.window_s
    engine.setup()
    startup = time.perf_counter() - t0
    out: dict[str, Any] = {"engine": engine.name, "version": engine.version(),
                           "startup_s": startup}
    data = load(spec)
    # W1/W3: the engine gets the path of the lines (written once, untimed) and reads it
    # inside every timed run
    feed = line_file(spec, data) if spec.workload in FILE_FED else data
    t1 = time.perf_counter()
    prepared = engine.prepare(spec.workload, feed)
    out["prepare_s"] = time.perf_counter() - t1
    out["records"] = len(data)
    seconds, cpu, sums = [], [], []
    try:
        # run 0 warms up (lazy plugin loading, JIT, caches) and is discarded unless it
        # alone used the budget, in which case it is the only (cold) measurement
        for i in range(repeat + 1):
            if sum(seconds) > budget:
                break
            gc.collect()
            t, c = time.perf_counter(), time.process_time()
            result = engine.run(spec.workload, prepared)
            elapsed, used = time.perf_counter() - t, time.process_time() - c
            sums.append(checksum(engine.rows(spec.workload, result)))
            del result
            if i == 0:
                out["warmup_s"] = elapsed
                if elapsed < budget / 2:
                    continue
                out["cold_only"] = True
            seconds.append(elapsed)
            cpu.append(used)
    finally:
        engine.close()
    out.update(seconds=seconds, cpu_seconds=cpu, checksums=sums, note=engine.note)
    if getattr(engine, "extra_rss_mb", None) is not None:
        out["jvm_peak_rss_mb"] = engine.extra_rss_mb
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--per-second", type=int, default=100_000)
    parser.add_argument("--window-s", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="stop repeating after this")
    args = parser.parse_args()
    spec = Spec(args.workload, args.records, args.keys, args.per_second, args.window_s)
    try:
        result = measure(args.module, spec, args.repeat, args.budget)
    except Exception as err:  # noqa: BLE001 - reported as the row's error
        traceback.print_exc()
        result = {"error": f"{type(err).__name__}: {err}".strip()[:500]}
    result["peak_rss_mb"] = round(peak_rss_kb() / 1024, 1)
    sys.stdout.flush()
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
