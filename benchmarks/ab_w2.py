"""W2's CPU rate on the etlcore tree at ROOT: for before/after comparisons run interleaved.

    python benchmarks/ab_w2.py ROOT KEYS [--records N] [--runs R] [--checksum]

ROOT is a checkout with its kernels built in place; the job, data and source are
this checkout's (``Etlcore.run_W2``), only the engine comes from ROOT. Prints the
median of ``--runs`` (3) after a warm-up, in records per CPU-second (steadier than wall
time on a shared machine). ``--checksum`` checksums each run's rows before the next, as
the suite's child does (it frees tens of MB of heap between runs: the next run's page
faults are printed).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("keys", type=int)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checksum", action="store_true",
                        help="checksum each run's rows before the next, as the suite's child")
    args = parser.parse_args()
    sys.path[:0] = [str(args.root.resolve()), str(HERE)]
    import etlcore

    if not Path(etlcore.__file__).resolve().is_relative_to(args.root.resolve()):
        raise SystemExit(f"etlcore came from {etlcore.__file__}, not {args.root}")
    from benchmarks.data import Spec, gen_w2
    from benchmarks.engines.etlcore_engine import Etlcore
    from benchmarks.reference import checksum

    records = gen_w2(Spec(workload="W2", records=args.records, keys=args.keys))
    engine = Etlcore()
    engine.setup()
    engine.window_s = 1
    engine.run_W2(records[: len(records) // 5])  # warm-up
    spent, faults = [], []
    for _ in range(args.runs):
        f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.process_time()
        out = engine.run_W2(records)
        spent.append(time.process_time() - t)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)
        if args.checksum:
            checksum(engine.rows_W2(out))
        del out
    rate = len(records) / statistics.median(spent)
    print(f"{args.root} keys={args.keys}: {rate:,.0f} records/CPU-s "
          f"(runs {', '.join(f'{x:.3f}' for x in spent)} s; page faults "
          f"{', '.join(f'{n:,}' for n in faults)})")


if __name__ == "__main__":
    main()
