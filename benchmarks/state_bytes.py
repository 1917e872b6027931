"""Kernel state per key: bytes a compiled aggregation holds for each distinct key.

    python benchmarks/state_bytes.py [--keys 1000000]

Measured with tracemalloc (it sees PyMem allocations: the C accumulator array
and hash table, and the Python lists beside them) around an int-key ``sum``
``HashAgg`` (the state of ``reduce_by_key`` and of each window pane) and a
``PaneStore`` of one pane. The key objects themselves are allocated before
measuring, as they arrive with the records; their size (an int: 28-32 bytes)
is shown separately with how many of them the state keeps alive (int keys
that fit int64 are held as C int64s and boxed only when emitted: none).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from etlcore._fast import hashagg_c, window_c  # noqa: E402


def traced(build: Any) -> tuple[int, Any]:
    """Bytes still allocated after ``build()`` (its result kept alive)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def measure(keys: int) -> dict[str, float]:
    """Bytes per key of int-key float sums, for ``keys`` distinct keys."""
    ks = list(range(10**6, 10**6 + keys))  # ints beyond the small-int cache, as real ids
    pairs = [(k, 0.5) for k in ks]
    times = [0] * keys
    vals = [0.5] * keys

    def hashagg() -> Any:
        agg = hashagg_c.HashAgg("sum")
        agg.add_pairs(pairs)
        return agg

    def pane_store() -> Any:
        store = window_c.PaneStore("sum")
        store.fold(ks, times, vals, 1_000_000)
        return store

    out = {}
    refs = [sys.getrefcount(k) for k in ks]
    for name, build in (("HashAgg", hashagg), ("PaneStore (1 pane)", pane_store)):
        size, kept = traced(build)
        assert len(kept) >= 1
        out[name] = size / keys
        now = [sys.getrefcount(k) for k in ks]  # counted the same way as refs
        held = sum(a > b for a, b in zip(now, refs, strict=True))
        out[f"{name}: key objects held, share"] = held / keys
        del kept
    out["int key object"] = sys.getsizeof(ks[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    for keys in args.keys:
        got = measure(keys)
        print(f"{keys:>9,} keys: " + ", ".join(
            f"{k} {v:.2f}" if "share" in k else f"{k} {v:.1f} B/key" for k, v in got.items()))


if __name__ == "__main__":
    main()
