"""SQL vs operators on the same W1-like aggregation, in the same run.

    python benchmarks/sql.py [--quick] [--runner local|processes] [--repeat 5] [--json FILE]

W1's data (lines of 4-12 Zipf words, ``benchmarks/data.py``) in 50,000-record
batches through :class:`BenchSource`, every batch's counts merged into a
dict by ``foreach_batch``, as the suite's W1 does. Two pairs, each run
interleaved (operators, SQL, operators, SQL, ...), median per variant:

* ``W1 lines``: ``flat_map(str.split).count_by_value()`` against one
  statement that splits and counts (``unnest(string_split(value, ' '))``);
* ``W1 words``: the lines split beforehand, so only the aggregation differs:
  ``count_by_value()`` against ``SELECT value, count(*) ... GROUP BY value``.

Every variant's totals are checked against a Counter of the input (a wrong
answer exits 1). Speed is reported, never asserted; the ratio is SQL over
operators from the same run, so a busy machine slows both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.data import Spec, gen_w1  # noqa: E402
from benchmarks.engines.etlcore_io import BenchSource  # noqa: E402

BATCH = 50_000
SPLIT_AND_COUNT = ("SELECT word, count(*) AS n FROM "
                   "(SELECT unnest(string_split(value, ' ')) AS word FROM batch) GROUP BY word")
COUNT = "SELECT value AS word, count(*) AS n FROM batch GROUP BY value"


def _job(records: list[Any], runner: str, build: Callable[[Any], Any]) -> dict[str, int]:
    from etlcore import StreamingContext

    totals: dict[str, int] = {}

    def merge(batch_id: int, counts: list[Any]) -> None:
        get = totals.get
        if counts and isinstance(counts[0], dict):  # SQL rows
            for row in counts:
                word = row["word"]
                totals[word] = get(word, 0) + row["n"]
            return
        for word, n in counts:
            totals[word] = get(word, 0) + n

    parts = 2 if runner == "processes" else 1
    ctx = StreamingContext(batch_interval="1s", clock="manual", runner=runner,
                           workers=2 if runner == "processes" else None)
    build(ctx.stream(BenchSource(records, BATCH, parts))).foreach_batch(merge)
    ctx.run(until_idle=True)
    return totals


VARIANTS: dict[str, list[tuple[str, Callable[[Any], Any]]]] = {
    "W1 lines": [("operators", lambda s: s.flat_map(str.split).count_by_value()),
                 ("sql", lambda s: s.sql(SPLIT_AND_COUNT))],
    "W1 words": [("operators", lambda s: s.count_by_value()),
                 ("sql", lambda s: s.sql(COUNT))],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 lines instead of 200,000")
    ap.add_argument("--runner", default="local", choices=["local", "processes"])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    import duckdb

    lines = gen_w1(Spec("W1", 20_000 if args.quick else 200_000))
    words = [w for line in lines for w in line.split()]
    want = Counter(words)
    inputs = {"W1 lines": lines, "W1 words": words}
    rows, ok = [], True
    print(f"runner {args.runner}, duckdb {duckdb.__version__}, {os.cpu_count()} cpus, "
          f"{len(lines):,} lines / {len(words):,} words, batches of {BATCH:,}")
    for workload, variants in VARIANTS.items():
        records = inputs[workload]
        times: dict[str, list[float]] = {name: [] for name, _ in variants}
        # warm-up: imports, DuckDB's first connection. SQL first, so that under `processes`
        # the fork server (started once per driver) preloads duckdb and pyarrow as it does
        # for a job with SQL (a job without SQL runs the same with or without them)
        for _name, build in reversed(variants):
            ok &= _job(records, args.runner, build) == want
        for _ in range(args.repeat):
            for name, build in variants:
                start = time.perf_counter()
                got = _job(records, args.runner, build)
                times[name].append(time.perf_counter() - start)
                ok &= got == want
        medians = {n: statistics.median(t) for n, t in times.items()}
        ratio = medians["operators"] / medians["sql"]
        for name, secs in medians.items():
            rows.append({"workload": workload, "variant": name, "runner": args.runner,
                         "records": len(records), "seconds": times[name],
                         "records_per_s": len(records) / secs})
            print(f"{workload:9} {name:9} {len(records) / secs:>12,.0f} records/s "
                  f"(median of {args.repeat}: {secs:.3f} s)")
        print(f"{workload:9} sql / operators speed: {ratio:.2f}x")
    print("answers:", "all equal the reference" if ok else "WRONG")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
