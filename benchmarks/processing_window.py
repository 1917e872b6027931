"""Keyed processing-time window sum: compiled kernels vs the pure-Python references.

``python benchmarks/processing_window.py`` runs
``reduce_by_key_and_window("sum", length=10, slide=5)`` over 2 M (int key,
float value) pairs in 50 k-record batches, once per kernel build (each in its
own process, since ``ETLCORE_PURE_PYTHON`` is read at import), and prints
records/s and the ratio.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

RECORDS, BATCH, KEYS = 2_000_000, 50_000, 10_000


def measure() -> float:
    """Best of 3 runs, records/s, with whichever kernels this process loaded."""
    from etlcore import StreamingContext
    from etlcore.testing import TestingSource

    rng = random.Random(2)
    pairs = [(rng.randrange(KEYS), rng.random()) for _ in range(RECORDS)]
    batches = [pairs[i:i + BATCH] for i in range(0, RECORDS, BATCH)]
    best = float("inf")
    for _ in range(3):
        ctx = StreamingContext(1.0, clock="manual")
        windows = ctx.stream(TestingSource(batches)).reduce_by_key_and_window(
            "sum", length=10, slide=5)
        windows.foreach_batch(lambda batch_id, rows: None)
        started = time.perf_counter()
        ctx.run(batches=len(batches))
        best = min(best, time.perf_counter() - started)
    return RECORDS / best


def main() -> None:
    if "--child" in sys.argv:
        print(measure())
        return
    rates = {}
    for name, pure in (("compiled", ""), ("pure-python", "1")):
        env = dict(os.environ, ETLCORE_PURE_PYTHON=pure)
        out = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                             capture_output=True, text=True).stdout
        rates[name] = float(out.strip().splitlines()[-1])
        print(f"{name:12s} {rates[name]:>12,.0f} records/s")
    print(f"compiled / pure-python: {rates['compiled'] / rates['pure-python']:.2f}x")


if __name__ == "__main__":
    main()
