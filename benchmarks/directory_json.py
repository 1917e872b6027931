"""A directory of JSON-lines files read by a real job, two etlcore trees side by side.

Issue 17: ``directory(...).parse_json(schema)`` and the directory source's own
``format: json`` (with ``json_schema``) should decode each line where it lies in the
bytes read (:mod:`etlcore.lineblock`), as W3's benchmark source does. This times those
jobs (local runner, one checkpoint each, W3's records in ``--files`` files of about
``--mb`` MB together) under each tree given, interleaved, best of ``--repeat``::

    python benchmarks/directory_json.py --tree before=/work/main --tree after=.

Each run is a child process whose ``PYTHONPATH`` is the tree, so the trees need not share
this script. ``format_json`` uses ``json_schema`` where the tree has it and says so;
a tree without it decodes untyped dicts (``format_json_untyped`` is that job in both).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

JOBS = ("parse_json", "format_json", "format_json_untyped")
SCHEMA = {"id": "int", "user": "str", "amount": "float"}


def write_data(folder: Path, mb: float, files: int) -> int:
    """W3-like JSON lines (1% cut short, some misfits), ``mb`` MB over ``files`` files."""
    rng = random.Random(17)
    folder.mkdir(parents=True, exist_ok=True)
    target, lines = int(mb * 1e6 / files), 0
    for f in range(files):
        out, size = [], 0
        while size < target:
            rec: dict[str, Any] = {"id": lines, "user": f"user{rng.randrange(10_000)}",
                                   "amount": rng.randrange(400_000) / 4, "country": "DE",
                                   "ts": 1.7e9 + lines / 1000, "tags": ["web"]}
            roll = rng.random()
            if roll < 0.02:
                rec["amount"] = None
            line = json.dumps(rec)
            if roll > 0.99:
                line = line[:rng.randrange(1, len(line))]
            out.append(line)
            size += len(line) + 1
            lines += 1
        (folder / f"part-{f:03d}.jsonl").write_text("\n".join(out) + "\n")
    return lines


def run_one(job: str, data: str, ckpt: str) -> dict[str, Any]:
    """One job over the folder in this process (a child): seconds, records, letters."""
    from etlcore import StreamingContext
    from etlcore.connectors.directory import DirectorySourceConfig

    typed = job == "format_json" and "json_schema" in DirectorySourceConfig.__dataclass_fields__
    ctx = StreamingContext(1.0, ckpt, clock="manual", name=job)
    counts = [0]

    def take(_: int, rows: list[Any]) -> None:
        counts[0] += len(rows)

    if job == "parse_json":
        stream = ctx.source("directory", path=data, format="text").parse_json(
            SCHEMA, required=["id", "user", "amount"], output="tuple")
    else:
        extra = ({"json_schema": SCHEMA, "json_output": "tuple"} if typed else {})
        stream = ctx.source("directory", path=data, format="json", **extra)
    stream.foreach_batch(take)
    began = time.perf_counter()
    ctx.run(until_idle=True)
    seconds = time.perf_counter() - began
    ctx.stop()
    return {"seconds": seconds, "records": counts[0], "letters": len(ctx.dead_letters),
            "json_schema": typed}


def child(tree: str, job: str, data: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as ckpt:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
        out = subprocess.run([sys.executable, __file__, "--one", job, "--data", data,
                              "--ckpt", ckpt], env=env, check=True, capture_output=True,
                             text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", action="append", default=[], help="NAME=PATH of an etlcore tree")
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.data, args.ckpt)))
        return
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": "."}
    with tempfile.TemporaryDirectory() as tmp:
        lines = write_data(Path(tmp) / "in", args.mb, args.files)
        print(f"{lines} lines, {args.mb:g} MB in {args.files} files; best of {args.repeat}")
        for job in args.jobs.split(","):
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):  # interleaved: tree A, tree B, tree A, ...
                for name, path in trees.items():
                    got = child(path, job, str(Path(tmp) / "in"))
                    if name not in best or got["seconds"] < best[name]["seconds"]:
                        best[name] = got
            base = next(iter(best.values()))["seconds"]
            for name, got in best.items():
                print(f"{job:20s} {name:8s} {got['seconds']:7.3f} s  x{base / got['seconds']:.2f}"
                      f"  records {got['records']}  letters {got['letters']}"
                      f"{'  (json_schema)' if got['json_schema'] else ''}")


if __name__ == "__main__":
    main()
