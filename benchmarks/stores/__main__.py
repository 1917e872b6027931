"""``python -m benchmarks.stores [--stores a,b] [--records N] [--json PATH]``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.stores import StoreBench, make_rows

TARGET = 0.80
ROOT = Path(__file__).resolve().parents[2]


def _benches() -> dict[str, StoreBench]:
    out: dict[str, StoreBench] = {}
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name.startswith("_"):
            continue
        bench = getattr(importlib.import_module(f"benchmarks.stores.{mod.name}"), "BENCH", None)
        if isinstance(bench, StoreBench):
            out[bench.name] = bench
    return out


def _timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_one(bench: StoreBench, records: int, batch_size: int, repeats: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "scripts" / "services"))
    import svcharness

    svc = svcharness.get(bench.service)
    if not svc.fetched():
        svc.fetch()
    svc.start()
    os.environ.update(svc.env())
    rows = make_rows(records)
    bench.setup()
    try:
        best: dict[str, float] = {}
        for _ in range(repeats):  # alternate, so drift on a busy machine hits both alike
            for what, fn, args in (("raw", bench.raw, (rows,)),
                                   ("etlcore", bench.through_etlcore, (rows, batch_size))):
                bench.reset()
                seconds = _timed(fn, *args)
                stored = bench.count()
                if stored != records:
                    raise SystemExit(f"{bench.name} {what}: stored {stored} rows, wrote {records}")
                best[what] = min(best.get(what, seconds), seconds)
        raw_rps, etl_rps = records / best["raw"], records / best["etlcore"]
        return {"store": bench.name, "records": records, "raw_rps": round(raw_rps),
                "etlcore_rps": round(etl_rps), "ratio": round(etl_rps / raw_rps, 3),
                "target": TARGET, "met": etl_rps / raw_rps >= TARGET, **bench.describe()}
    finally:
        bench.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stores", description=__doc__)
    p.add_argument("--stores", help="comma-separated store names (default: all)")
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    benches = _benches()
    names = args.stores.split(",") if args.stores else sorted(benches)
    unknown = [n for n in names if n not in benches]
    if unknown:
        p.error(f"unknown store(s) {', '.join(unknown)}; known: {', '.join(sorted(benches))}")
    results = []
    for name in names:
        row = run_one(benches[name], args.records, args.batch_size, args.repeats)
        results.append(row)
        print(f"{name:10} raw {row['raw_rps']:>9,} rec/s  etlcore {row['etlcore_rps']:>9,} rec/s"
              f"  ratio {row['ratio']:.2f} (target {TARGET:.2f}: "
              f"{'met' if row['met'] else 'missed'})", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
