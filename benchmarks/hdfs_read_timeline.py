"""Where an HDFS read job's time goes, batch by batch, against HdfsCLI's download of the same files.

The read row of ``filesystems.py --fs hdfs`` is one number; this shows its shape.
It runs the same job (``directory`` source on ``hdfs://`` text files -> a count of
each partition's bytes, local runner) with its steps timed from outside, and
HdfsCLI's download of the same folder (``--threads`` at once), in turns. Per batch
it prints the listing (``LISTSTATUS_BATCH``), every OPEN split in three (the
NameNode's answer, a 307 redirect; the DataNode's headers; the DataNode's body),
the task's waits for a fetched file, the split into lines, the plan and commit
logs, and the time with no OPEN in flight. For both sides: the share of the run
with 0, 1, 2, ... OPENs in flight, CPU, and how late a 1 ms sleeper wakes (the GIL).

Each HTTP request is timed at ``requests``' transport adapter, so a redirect is its
own request on both sides. Instrumentation only: nothing of etlcore changes. Needs
HDFS (``svc.py start hdfs``) and etlcore-hdfs.

    python benchmarks/hdfs_read_timeline.py [--files 16 --mb 8 --per-batch 4] [--runs 3]
                                            [--threads 8]
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filesystems as fsb  # noqa: E402 - the benchmark's own files, job and settings
import s3_write_timeline as tl  # noqa: E402 - the timers, the probe and the printing

MB = 1024 * 1024


def _request_label(request: Any) -> str:
    """``NN OPEN f0001.txt`` or ``DN OPEN f0001.txt``: which server, which operation."""
    parts = urlsplit(request.url)
    op = parse_qs(parts.query).get("op", ["?"])[0]
    name = parts.path.rsplit("/", 1)[-1]
    nn = os.environ.get("ETLCORE_HDFS_WEBHDFS", "http://127.0.0.1:9870")
    side = "NN" if parts.netloc == urlsplit(nn).netloc else "DN"
    return f"http {side} {op} {name}"


def instrument() -> None:
    """Time the steps of an HDFS read job and every HTTP request of both sides."""
    import etlcore_hdfs.fs as hdfs_fs
    import hdfs.client
    import requests.adapters

    import etlcore.checkpoint as checkpoint
    import etlcore.connectors.directory as directory
    import etlcore.connectors.textfiles as textfiles
    import etlcore.scheduler as scheduler

    tl._timed(requests.adapters.HTTPAdapter, "send",
              lambda self, request, *a, **k: _request_label(request))
    tl._timed(hdfs_fs.HdfsFileSystem, "call",
              lambda self, what, path, fn: f"{what} {str(path).rsplit('/', 1)[-1]}")
    tl._timed(directory.DirectorySource, "plan", lambda self, *a, **k: "source plan")
    tl._timed(checkpoint.Checkpoint, "write_plan", lambda self, p: f"plan log {p.batch_id}")
    tl._timed(checkpoint.Checkpoint, "write_commit", lambda self, p, *a: "commit log")
    tl._timed(scheduler.Scheduler, "_execute",
              lambda self, plan, *a, **k: f"batch {plan.batch_id} tasks")
    tl._timed(textfiles, "_load", lambda data, path, *a, **k:
              f"split into lines {path.rsplit('/', 1)[-1]} ({len(data) / MB:.1f} MB)")
    fetched = textfiles._fetched

    @functools.wraps(fetched)
    def timed_fetched(*args: Any, **kwargs: Any) -> Iterator[Any]:
        it = fetched(*args, **kwargs)
        while True:
            began = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            tl.TRACE[0].add(f"task waits for {item[1].rsplit('/', 1)[-1]}", began,
                            time.perf_counter())
            yield item

    textfiles._fetched = timed_fetched
    read = hdfs.client.Client.read

    @functools.wraps(read)
    @contextlib.contextmanager
    def timed_read(self: Any, hdfs_path: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        began = time.perf_counter()
        with read(self, hdfs_path, *args, **kwargs) as reader:
            yield reader
        tl.TRACE[0].add(f"open-to-end {hdfs_path.rsplit('/', 1)[-1]}", began,
                        time.perf_counter())

    hdfs.client.Client.read = timed_read


def print_requests(trace: tl.Trace, title: str) -> None:
    """Per request kind: how many, and the median and max milliseconds."""
    kinds: dict[str, list[float]] = {}
    for s, e, _, w in trace.events:
        if w.startswith("http "):
            kinds.setdefault(" ".join(w.split()[:3]), []).append((e - s) * 1000)
    bodies = [(e - s) * 1000 for s, e, _, w in trace.events if w.startswith("open-to-end ")]
    print(f"{title}: " + "; ".join(
        f"{k[5:]} x{len(v)} median {sorted(v)[len(v) // 2]:.1f} max {max(v):.1f} ms"
        for k, v in sorted(kinds.items())) + (
        f"; OPEN to last byte x{len(bodies)} median {sorted(bodies)[len(bodies) // 2]:.1f} "
        f"max {max(bodies):.1f} ms" if bodies else ""))


def print_main_thread(trace: tl.Trace, seconds: float) -> None:
    """The main thread's run by kind: waits for a fetch, splits, logs, planning, the rest."""
    kinds = {"task waits": "waits for a fetched file", "split into lines": "split into lines",
             "commit log": "commit log", "source plan": "plan (LISTSTATUS)"}
    spent = dict.fromkeys(kinds.values(), 0.0)
    for s, e, thread, w in trace.events:
        for prefix, name in kinds.items():
            if thread == "MainThread" and w.startswith(prefix):
                spent[name] += e - s
    rest = seconds - sum(spent.values())
    print("  main thread, ms: " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in spent.items())
          + f", the rest (engine, the job's function) {rest * 1000:.0f}")


def main(argv: list[str] | None = None) -> None:
    p = tl.hdfs_parser(__doc__)
    args = p.parse_args(argv)
    job_args = tl.job_options(args)

    instrument()
    client, root, base, _ = fsb.hdfs_client("timeline")
    tmp = Path(tempfile.mkdtemp(prefix="etlcore-hdfs-timeline-"))
    try:
        src, down = tmp / "src", tmp / "down"
        src.mkdir()
        total = fsb.make_files(src, args.files, args.mb, args.line)
        client.upload(f"{root}/in", str(src), n_threads=args.threads)

        def raw() -> None:
            shutil.rmtree(down, ignore_errors=True)
            client.download(f"{root}/in", str(down), n_threads=args.threads)

        seen = []

        def job(k: int) -> None:
            took, count = fsb.job(f"read-{k}", f"{base}/in", None, job_args, tmp / "ckpt")
            seen.append(count)

        tl.warm_up(tmp, f"{base}/warm", job_args)
        ours, theirs = tl.in_turns(raw, job, args.runs)
        assert all(s == total for s in seen), f"the read job saw {seen} bytes of {total}"
        best, raw_best, mbs = tl.fastest(ours, theirs, args, total)
        tl.print_batches(best.trace, upload="OPEN ")
        print()
        for name, run in (("etlcore", best), (f"HdfsCLI ({args.threads} threads)", raw_best)):
            spans = run.trace.spans("open-to-end ")
            print(f"{name}: {run.seconds:.3f} s, {mbs / run.seconds:.1f} MB/s (runs: "
                  + ", ".join(f"{mbs / r.seconds:.0f}" for r in (ours if run is best else theirs))
                  + f" MB/s); CPU user {run.user:.2f} s, system {run.system:.2f} s")
            print(f"  OPENs in flight (share of the run): "
                  f"{tl.shares(tl.in_flight(spans, 0.0, run.seconds))}")
            first = min((s for s, _ in spans), default=0.0)
            print(f"  first OPEN at {first * 1000:.1f} ms; {run.probe}")
            print_requests(run.trace, "  requests")
            if run is best:
                print_main_thread(run.trace, run.seconds)
        print(f"\nratio: {raw_best.seconds / best.seconds:.0%} of HdfsCLI")
    finally:
        client.delete(root, recursive=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
