"""``python -m benchmarks``: run the suite, print a table, optionally write JSON and a PNG.

    python -m benchmarks                           # full suite, every engine
    python -m benchmarks --quick --engines etlcore # CI: etlcore, etlcore-pure, plain-python(+msgspec)
    python -m benchmarks --workloads W3 --engines json   # W3 against all its JSON yardsticks
    python -m benchmarks --json bench-results/latest.json --plot bench-results/latest.png
    python -m benchmarks --scaling --engines etlcore
    python -m benchmarks --runners local,processes,spark --engines etlcore-compiled,spark-rdd
    python -m benchmarks --runners local,processes --scaling   # records/s against workers

Exits 1 if any engine's answer is wrong. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from benchmarks import report
from benchmarks.engines import ENGINES, RUNNERS, select
from benchmarks.suite import WORKLOADS, run_runner_scaling, run_scaling, run_suite


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="all",
                        help="comma-separated engines or groups (etlcore = etlcore, etlcore-pure, "
                             "plain-python, plain-msgspec; json = W3's JSON yardsticks; all); "
                             f"engines: {', '.join(ENGINES)}")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="e.g. W1,W2")
    parser.add_argument("--quick", action="store_true", help="small inputs: a couple of minutes")
    parser.add_argument("--runners", default="",
                        help="etlcore on each of these runners, as rows etlcore[RUNNER] of one "
                             f"run (x local, x spark-rdd ratios); runners: {', '.join(RUNNERS)}")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes / Spark local[N] cores (default 2; with --scaling: "
                             "1..max(2, cores))")
    parser.add_argument("--scaling", action="store_true",
                        help="W2 as batch size, keys and window length grow; with --runners: "
                             "W1 and W3 records/s against the number of workers")
    parser.add_argument("--json", metavar="PATH", help="write every result row as a JSON list")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of records/s")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    engines = select(args.engines, runners)
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    console = Console(width=max(Console().width, 150))

    def progress(row: dict[str, Any]) -> None:
        wrong = row.get("correct") is False
        what = row.get("error") or (f"{row.get('records_per_s') or 0:,} records/s"
                                    f"{'  WRONG ANSWER' if wrong else ''}")
        console.print(f"  {row['workload']:<24} {escape(row['engine']):<18} {escape(what)}")

    when = datetime.datetime.now().isoformat(timespec="seconds")
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python " \
              f"{platform.python_version()}"
    console.print(f"etlcore benchmarks {when} on {machine}")
    if args.scaling and runners:
        most = args.workers or max(2, os.cpu_count() or 1)
        rows = run_runner_scaling(runners, most, args.quick, progress)
        title = f"W1, W3 records/s against workers (1..{most}), {when}"
    elif args.scaling:
        rows = run_scaling(engines, args.quick, progress)
        title = "W2 scaling"
    else:
        rows = run_suite(workloads, engines, args.quick, progress, args.workers or 2)
        title = f"etlcore benchmarks ({'quick' if args.quick else 'full'}), {when}"
    report.ratios(rows)
    for row in rows:
        row.setdefault("date", when)
        row.setdefault("machine", machine)
    console.print(report.table(rows, title))
    if args.json:
        report.write_json(rows, args.json)
    if args.plot:
        report.plot(rows, args.plot)
    wrong = [r for r in rows if "error" not in r and r.get("correct") is False]
    for r in wrong:
        console.print(f"[red]WRONG: {r['workload']} {escape(r['engine'])}: checksum {r.get('checksum')} "
                      f"!= reference {r.get('reference')}[/red]")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
