"""Where an S3 write job's time goes, batch by batch, against boto3's upload of the same files.

The write row of ``filesystems.py --fs s3`` is one number; this shows its shape.
It runs the same job (``directory`` source on local text files -> ``files`` sink
on ``s3://``, local runner) with its steps timed from outside (the S3 part
upload, the sink's commit, the checkpoint's plan and commit logs, the source's
reads), and boto3's upload of the same files with its requests timed by
botocore's event hooks, and prints:

- per batch: when its task read its files, when each part went up and came
  back, CompleteMultipartUpload, the manifest, the commit log, and the time
  with no part in flight;
- for both sides: the share of the run with 0, 1, 2, ... uploads in flight;
- CPU (process user and system, the part threads' own), minor page faults, and
  how late a thread that sleeps 1 ms wakes (the GIL: a thread holding it
  delays the others' wake-ups).

Instrumentation only: nothing of etlcore changes, and the timers cost
microseconds per event. Needs MinIO (``svc.py start s3``) and etlcore-s3.

    python benchmarks/s3_write_timeline.py [--files 16 --mb 8 --per-batch 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filesystems as fsb  # noqa: E402 - the benchmark's own files, job and settings

MB = 1024 * 1024


@dataclass
class Trace:
    """Timed events of one run: (start, end, thread, what), seconds from ``t0``."""

    t0: float = field(default_factory=time.perf_counter)
    events: list[tuple[float, float, str, str]] = field(default_factory=list)
    part_cpu: float = 0.0  # CPU seconds of the threads that sent parts, inside the calls
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, start: float, end: float, cpu: float = 0.0) -> None:
        with self.lock:
            self.events.append((start - self.t0, end - self.t0,
                                threading.current_thread().name, what))
            self.part_cpu += cpu

    def spans(self, prefix: str) -> list[tuple[float, float]]:
        return [(s, e) for s, e, _, w in self.events if w.startswith(prefix)]


TRACE = [Trace()]


def _timed(owner: Any, name: str, label: Callable[..., str], cpu: bool = False) -> None:
    """Wrap ``owner.name`` so each call adds an event named ``label(*args)``."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began, cpu0 = time.perf_counter(), time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            TRACE[0].add(label(*args, **kwargs), began, time.perf_counter(),
                         time.thread_time() - cpu0 if cpu else 0.0)

    setattr(owner, name, wrapper)


def _timed_reads(owner: Any) -> None:
    """Each piece the reader's ``read_blocks`` yields: how long the task waited for it."""
    inner = owner.read_blocks

    def read_blocks(*args: Any, **kwargs: Any) -> Iterator[Any] | None:
        pieces = inner(*args, **kwargs)
        if pieces is None:
            return None

        def timed() -> Iterator[Any]:
            it = iter(pieces)
            while True:
                began = time.perf_counter()
                try:
                    piece = next(it)
                except StopIteration:
                    return
                size = len(getattr(piece, "data", b"") or b"")
                TRACE[0].add(f"read {size / MB:.1f} MB", began, time.perf_counter())
                yield piece

        return timed()

    owner.read_blocks = read_blocks


def instrument() -> None:
    """Time the steps of a write job (the S3 upload, sink commit, checkpoint logs, reads)."""
    import etlcore_s3.upload as upload

    import etlcore.checkpoint as checkpoint
    import etlcore.connectors.directory as directory
    import etlcore.connectors.files as files
    import etlcore.scheduler as scheduler

    _timed(upload.PartUpload, "_create", lambda *a: "CreateMultipartUpload")
    _timed(upload.PartUpload, "_part",
           lambda self, n, body: f"part {n} ({len(body) / MB:.1f} MB)", cpu=True)
    import etlcore_s3.fs as s3fs

    _timed(upload.PartUpload, "close", lambda self: "PartUpload.close: waits for parts, Complete (or PutObject)")
    _timed(upload.PartUpload, "close_deferred",
           lambda self, in_process=False: "PartUpload.close_deferred: "
           + ("hands off the last parts" if in_process else "waits for parts (or PutObject)"))
    _timed(upload.PartUpload, "parts_stored", lambda self: "parts_stored: waits for parts")
    _timed(s3fs.S3FileSystem, "finish",
           lambda self, pending: f"finish: CompleteMultipartUpload x{len(pending)}")
    _timed(files.FilesSink, "commit", lambda self, b, m: f"commit {b.batch_id}: manifest")
    _timed(checkpoint.Checkpoint, "write_plan", lambda self, p: f"plan log {p.batch_id}")
    _timed(checkpoint.Checkpoint, "write_commit", lambda self, p, *a: "commit log")
    _timed(scheduler.Scheduler, "_execute", lambda self, plan, *a, **k: f"batch {plan.batch_id} tasks")
    for value in vars(directory).values():
        if (isinstance(value, type) and value.__module__ == directory.__name__
                and "read_blocks" in vars(value)):
            _timed_reads(value)


class WakeProbe:
    """A thread that sleeps 1 ms over and over and records how late it wakes."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="wake-probe", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            time.sleep(0.001)
            self.late.append(time.perf_counter() - began - 0.001)

    def __enter__(self) -> WakeProbe:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()

    def summary(self) -> str:
        late = sorted(self.late) or [0.0]
        pick = lambda q: late[min(len(late) - 1, int(q * len(late)))] * 1000  # noqa: E731
        return (f"1 ms sleeps woke late by p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, "
                f"max {late[-1] * 1000:.1f} ms ({len(late)} wake-ups)")


def in_flight(spans: list[tuple[float, float]], start: float, end: float) -> dict[int, float]:
    """Seconds of [start, end] with k spans open, for each k."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    out: dict[int, float] = {}
    level, last = 0, start
    for at, step in edges:
        at = min(max(at, start), end)
        out[level] = out.get(level, 0.0) + at - last
        level, last = level + step, at
    out[level] = out.get(level, 0.0) + end - last
    return {k: v for k, v in sorted(out.items()) if v > 0}


def shares(levels: dict[int, float]) -> str:
    total = sum(levels.values()) or 1.0
    return "  ".join(f"{k}: {v / total:4.0%}" for k, v in levels.items())


@dataclass
class Run:
    seconds: float
    trace: Trace
    user: float
    system: float
    faults: int
    probe: str


def measured(fn: Callable[[], Any]) -> Run:
    TRACE[0] = trace = Trace()
    before = resource.getrusage(resource.RUSAGE_SELF)
    with WakeProbe() as probe:
        trace.t0 = time.perf_counter()
        fn()
        took = time.perf_counter() - trace.t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return Run(took, trace, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime,
               after.ru_minflt - before.ru_minflt, probe.summary())


def print_batches(trace: Trace, upload: str = "part ") -> None:
    """One block per batch: its events in order, and its time with no upload (events
    named ``upload...``) in flight."""
    tasks = sorted(s for s in trace.events if s[3].startswith("batch "))
    for k, (start, end, _, what) in enumerate(tasks):
        until = tasks[k + 1][0] if k + 1 < len(tasks) else max(e for _, e, _, _ in trace.events)
        mine = sorted(ev for ev in trace.events if start <= ev[0] < until)
        parts = [(s, e) for s, e, _, w in mine if w.startswith(upload)]
        idle = in_flight(parts, start, until).get(0, 0.0)
        print(f"\n{what}: {start * 1000:.1f}-{end * 1000:.1f} ms; until the next batch "
              f"{(until - start) * 1000:.1f} ms, {idle * 1000:.1f} ms of it with no upload "
              f"in flight")
        for s, e, thread, w in mine:
            if not w.startswith("batch "):
                print(f"  {s * 1000:8.1f} {e * 1000:8.1f} {(e - s) * 1000:7.1f} ms  "
                      f"{thread[:20]:20} {w}")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options both timelines take: the files written and the runs of each side."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--mb", type=int, default=8, help="MB per file")
    p.add_argument("--line", type=int, default=1000, help="bytes per line")
    p.add_argument("--per-batch", type=int, default=4, help="files per batch")
    p.add_argument("--runs", type=int, default=3, help="runs of each side; the fastest shown")
    return p


def hdfs_parser(doc: str | None) -> argparse.ArgumentParser:
    """The timeline's options and HdfsCLI's files at once, for both HDFS timelines."""
    p = parser(doc)
    p.add_argument("--threads", type=int, default=8, help="HdfsCLI: files at once")
    return p


def job_options(args: argparse.Namespace) -> argparse.Namespace:
    """``filesystems.job``'s options for a timeline: the local runner, one partition."""
    return argparse.Namespace(runner="local", workers=2, per_batch=args.per_batch,
                              partitions=1, split_mb=0)


def in_turns(raw: Callable[[], Any], job: Callable[[int], Any],
             runs: int) -> tuple[list[Run], list[Run]]:
    """``runs`` of the job (given the run's number) and of the raw transfer, in turns, so
    both see the same neighbours: (the job's runs, the raw runs)."""
    ours: list[Run] = []
    theirs: list[Run] = []
    for k in range(runs):
        theirs.append(measured(raw))
        ours.append(measured(lambda k=k: job(k)))
    return ours, theirs


def warm_up(tmp: Path, sink: str, job_args: argparse.Namespace) -> None:
    """One tiny write job to ``sink`` first: imports and first connections go untimed."""
    warm = tmp / "warm"
    warm.mkdir()
    (warm / "w.txt").write_text("warm-up\n")
    fsb.job("warm-up", str(warm), sink, job_args, tmp / "ckpt")


def fastest(ours: list[Run], theirs: list[Run], args: argparse.Namespace,
            total: int) -> tuple[Run, Run, float]:
    """Each side's fastest run and the data's MB, after a line saying what was run."""
    best, raw_best = min(ours, key=lambda r: r.seconds), min(theirs, key=lambda r: r.seconds)
    print(f"{args.files} files x {args.mb} MB, {args.per_batch} per batch, load "
          f"{os.getloadavg()[0]:.1f}; fastest of {args.runs} runs each side")
    return best, raw_best, total / MB


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--concurrency", type=int, default=8, help="boto3: files at once")
    args = p.parse_args(argv)
    job_args = job_options(args)

    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    instrument()
    s = fsb.settings()
    os.environ.update({"AWS_ENDPOINT_URL": s["endpoint"], "AWS_ACCESS_KEY_ID": s["key"],
                       "AWS_SECRET_ACCESS_KEY": s["secret"], "AWS_DEFAULT_REGION": s["region"]})
    client = boto3.client("s3", config=Config(max_pool_connections=32))  # the yardstick's
    tmp = Path(tempfile.mkdtemp(prefix="etlcore-s3-timeline-"))
    bucket = f"timeline-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        src = tmp / "src"
        src.mkdir()
        total = fsb.make_files(src, args.files, args.mb, args.line)
        names = sorted(n.name for n in src.iterdir())
        transfer = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB,
                                  max_concurrency=args.concurrency, use_threads=True)

        def upload_one(name: str) -> None:  # one PutObject a file (below the threshold)
            began = time.perf_counter()
            client.upload_file(str(src / name), bucket, f"raw/{name}", Config=transfer)
            TRACE[0].add("put", began, time.perf_counter())

        def raw() -> None:
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(upload_one, names))

        warm_up(tmp, f"s3://{bucket}/warm", job_args)
        raw()
        ours, theirs = in_turns(raw, lambda k: fsb.job(
            f"write-{k}", str(src), f"s3://{bucket}/out-{k}", job_args, tmp / "ckpt"), args.runs)
        best, raw_best, mbs = fastest(ours, theirs, args, total)
        print()
        print_batches(best.trace)
        print()
        for name, run, spans in (
                ("etlcore", best, best.trace.spans("part ")),
                (f"boto3 ({args.concurrency} files at once)", raw_best,
                 raw_best.trace.spans("put"))):
            print(f"{name}: {run.seconds:.3f} s, {mbs / run.seconds:.1f} MB/s; CPU user "
                  f"{run.user:.2f} s, system {run.system:.2f} s, minor faults {run.faults}")
            print(f"  uploads in flight (share of the run): "
                  f"{shares(in_flight(spans, 0.0, run.seconds))}")
            if name == "etlcore":
                print(f"  CPU inside the part calls (sum over threads): "
                      f"{run.trace.part_cpu:.2f} s")
            print(f"  {run.probe}")
        print(f"\nratio: {raw_best.seconds / best.seconds:.0%} of boto3")
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
