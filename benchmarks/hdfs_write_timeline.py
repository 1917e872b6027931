"""Where an HDFS write job's time goes, batch by batch, against HdfsCLI's upload of the same files.

The HDFS twin of ``s3_write_timeline.py`` (whose timers and printing it uses): the
write job of ``filesystems.py --fs hdfs`` (``directory`` source on local text files
-> ``files`` sink on ``hdfs://``, local runner) with its steps timed from outside,
and HdfsCLI's 8-thread upload of the same files, in turns. Per batch it prints the
reads, every WebHDFS call (MKDIRS, GETFILESTATUS, RENAME, the ``_SUCCESS`` CREATE),
the streamed CREATE of the partition's file split in two: sending the body, then
waiting for the answer after its last byte. That wait is where a write stalls: the
DataNode's client closes the file with the NameNode's ``complete``, which answers
"not yet" when the DataNode's report of the block has not arrived, and the client
sleeps 400 ms before asking again (``dfs.client.block.write.locateFollowingBlock
.initial.delay.ms``). ``--closes N`` also times N one-file CREATEs of each size alone.

Instrumentation only: nothing of etlcore changes. Needs HDFS (``svc.py start hdfs``)
and etlcore-hdfs.

    python benchmarks/hdfs_write_timeline.py [--files 16 --mb 8 --per-batch 4] [--runs 3]
                                             [--closes 8]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import filesystems as fsb  # noqa: E402 - the benchmark's own files, job and settings
import s3_write_timeline as tl  # noqa: E402 - the timers, the probe and the printing

MB = 1024 * 1024


def instrument() -> None:
    """Time the steps of an HDFS write job (calls, the stream, sink commit, logs, reads)."""
    import etlcore_hdfs.fs as hdfs_fs
    import etlcore_hdfs.upload as upload

    import etlcore.checkpoint as checkpoint
    import etlcore.connectors.directory as directory
    import etlcore.connectors.files as files
    import etlcore.scheduler as scheduler

    tl._timed(hdfs_fs.HdfsFileSystem, "call",
              lambda self, what, path, fn: f"{what} {str(path).rsplit('/', 1)[-1]}")
    tl._timed(upload.StreamUpload, "close", lambda self: "StreamUpload.close: waits for the answer")
    tl._timed(files.FilesSink, "commit", lambda self, b, m: f"commit {b.batch_id}")
    tl._timed(checkpoint.Checkpoint, "write_plan", lambda self, p: f"plan log {p.batch_id}")
    tl._timed(checkpoint.Checkpoint, "write_commit", lambda self, p, *a: "commit log")
    tl._timed(scheduler.Scheduler, "_execute",
              lambda self, plan, *a, **k: f"batch {plan.batch_id} tasks")
    for value in vars(directory).values():
        if (isinstance(value, type) and value.__module__ == directory.__name__
                and "read_blocks" in vars(value)):
            tl._timed_reads(value)
    send, body = upload.StreamUpload._send, upload.StreamUpload._body

    def timed_body(self: Any) -> Iterator[bytes]:
        began = time.perf_counter()
        sent = 0
        for chunk in body(self):
            sent += len(chunk)
            yield chunk
        self._body_end = time.perf_counter()
        tl.TRACE[0].add(f"stream: CREATE body sent ({sent / MB:.1f} MB)", began, self._body_end)

    def timed_send(self: Any) -> None:
        self._body_end = None
        try:
            send(self)
        finally:
            if self._body_end is not None:
                tl.TRACE[0].add("stream: CREATE answer after the last byte (complete)",
                                self._body_end, time.perf_counter())

    upload.StreamUpload._body = timed_body
    upload.StreamUpload._send = timed_send


def closes(client: Any, root: str, count: int) -> None:
    """Milliseconds of one-file CREATEs, one at a time: the stall shows as ~400 ms more."""
    for size in (1, 8 * MB, 32 * MB):
        data = b"x" * size
        took = []
        for i in range(count):
            began = time.perf_counter()
            client.write(f"{root}/close/{size}-{i}", data, overwrite=True)
            took.append((time.perf_counter() - began) * 1000)
        print(f"one CREATE of {size} B, {count} in a row, ms: "
              + " ".join(f"{t:.0f}" for t in took))


def main(argv: list[str] | None = None) -> None:
    p = tl.hdfs_parser(__doc__)
    p.add_argument("--closes", type=int, default=0, help="also time this many one-file "
                   "CREATEs of 1 B, 8 MB and 32 MB")
    args = p.parse_args(argv)
    job_args = tl.job_options(args)

    instrument()
    client, root, base, _ = fsb.hdfs_client("timeline")
    tmp = Path(tempfile.mkdtemp(prefix="etlcore-hdfs-timeline-"))
    try:
        src = tmp / "src"
        src.mkdir()
        total = fsb.make_files(src, args.files, args.mb, args.line)

        def raw() -> None:
            client.delete(f"{root}/raw", recursive=True)
            began = time.perf_counter()
            client.upload(f"{root}/raw", str(src), n_threads=args.threads)
            tl.TRACE[0].add("upload", began, time.perf_counter())

        tl.warm_up(tmp, f"{base}/warm", job_args)
        ours, theirs = tl.in_turns(raw, lambda k: fsb.job(
            f"write-{k}", str(src), f"{base}/out-{k}", job_args, tmp / "ckpt"), args.runs)
        best, raw_best, mbs = tl.fastest(ours, theirs, args, total)
        tl.print_batches(best.trace, upload="stream: ")
        print()
        for name, runs in (("etlcore", ours), (f"HdfsCLI ({args.threads} threads)", theirs)):
            run = min(runs, key=lambda r: r.seconds)
            print(f"{name}: {run.seconds:.3f} s, {mbs / run.seconds:.1f} MB/s (runs: "
                  + ", ".join(f"{mbs / r.seconds:.0f}" for r in runs)
                  + f" MB/s); CPU user {run.user:.2f} s, system {run.system:.2f} s")
        stalls = [e - s for r in ours for s, e, _, w in r.trace.events
                  if w.startswith("stream: CREATE answer")]
        print(f"etlcore, every run: {len(stalls)} streamed CREATEs answered "
              + " ".join(f"{t * 1000:.0f}" for t in stalls) + " ms after their last byte")
        print(f"\nratio: {raw_best.seconds / best.seconds:.0%} of HdfsCLI")
        if args.closes:
            closes(client, root, args.closes)
    finally:
        client.delete(root, recursive=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
