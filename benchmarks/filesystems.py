"""File systems: MB/s through etlcore on s3:// against boto3's own best transfer, one run.

Writes ``--files`` text files of ``--mb`` MB each (lines of ``--line`` bytes),
then measures in the same run, on the same bytes:

- raw boto3: ``upload_file`` and ``download_file`` with a ``TransferConfig``
  (multipart, ``--concurrency`` threads): the ceiling;
- etlcore write: the ``directory`` source on the local files -> the ``files``
  sink on ``s3://bucket/out`` (one object per batch and partition, manifests);
- etlcore read: the ``directory`` source on ``s3://bucket/in`` -> a sink that
  counts bytes;
- etlcore end to end: ``directory`` on ``s3://`` -> ``files`` on ``s3://``,
  against raw download + upload of the same files.

Needs MinIO (``python scripts/services/svc.py start s3``) and the etlcore-s3
plugin. Endpoint and credentials from ``ETLCORE_S3_*`` (``svc.py env s3``).

    python benchmarks/filesystems.py [--files 16 --mb 8 --line 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def settings() -> dict[str, str]:
    return {"endpoint": os.environ.get("ETLCORE_S3_ENDPOINT", "http://127.0.0.1:9000"),
            "key": os.environ.get("ETLCORE_S3_ACCESS_KEY", "etlcore"),
            "secret": os.environ.get("ETLCORE_S3_SECRET_KEY", "etlcore-secret"),
            "region": os.environ.get("ETLCORE_S3_REGION", "us-east-1")}


def make_files(folder: Path, files: int, mb: int, line: int) -> int:
    """Text files of ``mb`` MB; returns the total bytes."""
    total = 0
    body = "".join(f"{i:08d} " + "x" * (line - 10) + "\n" for i in range(mb * MB // line))
    for f in range(files):
        data = body.replace("x", chr(ord("a") + f % 26), line)  # files differ a little
        (folder / f"f{f:04d}.txt").write_text(data)
        total += len(data)
    return total


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def raw(client: Any, bucket: str, src: Path, dst: Path, concurrency: int) -> tuple[float, float]:
    """Seconds to upload and to download every file with boto3's transfer manager."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB,
                            max_concurrency=concurrency, use_threads=True)
    names = sorted(p.name for p in src.iterdir())
    up = timed(lambda: [client.upload_file(str(src / n), bucket, f"raw/{n}", Config=config)
                        for n in names])
    down = timed(lambda: [client.download_file(bucket, f"raw/{n}", str(dst / n), Config=config)
                          for n in names])
    return up, down


def job(name: str, source: str, sink: str | None, per_batch: int, ckpt: Path) -> tuple[float, int]:
    """Seconds for a job reading ``source`` to finish, and the bytes its records hold."""
    from etlcore import StreamingContext

    seen = [0]
    ctx = StreamingContext(1.0, ckpt / name, clock="manual", name=name, parallelism=2)
    lines = ctx.source("directory", path=source, format="text", max_files_per_batch=per_batch)
    if sink is None:
        lines.foreach_batch(lambda _b, records: seen.__setitem__(
            0, seen[0] + sum(len(r) + 1 for r in records)))
    else:
        lines.sink("files", path=sink, format="text")
    took = timed(lambda: ctx.run(until_idle=True))
    return took, seen[0]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--mb", type=int, default=8, help="MB per file")
    p.add_argument("--line", type=int, default=1000, help="bytes per line (a record)")
    p.add_argument("--per-batch", type=int, default=4, help="files per batch")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    import boto3
    from botocore.config import Config

    s = settings()
    os.environ.update({"AWS_ENDPOINT_URL": s["endpoint"], "AWS_ACCESS_KEY_ID": s["key"],
                       "AWS_SECRET_ACCESS_KEY": s["secret"], "AWS_DEFAULT_REGION": s["region"]})
    client = boto3.client("s3", config=Config(max_pool_connections=32))
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    tmp = Path(tempfile.mkdtemp(prefix="etlcore-fs-bench-"))
    try:
        (tmp / "src").mkdir()
        (tmp / "down").mkdir()
        total = make_files(tmp / "src", args.files, args.mb, args.line)
        up, down = raw(client, bucket, tmp / "src", tmp / "down", args.concurrency)
        # the same bytes as the job's input prefix (server-side copies, untimed)
        for n in sorted(os.listdir(tmp / "src")):
            client.copy_object(Bucket=bucket, Key=f"in/{n}",
                               CopySource={"Bucket": bucket, "Key": f"raw/{n}"})
        w, _ = job("write", str(tmp / "src"), f"s3://{bucket}/out-w", args.per_batch, tmp)
        r, seen = job("read", f"s3://{bucket}/in", None, args.per_batch, tmp)
        e2e, _ = job("e2e", f"s3://{bucket}/in", f"s3://{bucket}/out-e", args.per_batch, tmp)
        assert seen == total, f"the read job saw {seen} bytes of {total}"
        written = sum(o["Size"] for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="out-e/batch-") for o in page.get("Contents", []))
        assert written == total, f"the end-to-end job wrote {written} bytes of {total}"
        mbs = total / MB
        rows = {
            "write": (mbs / w, mbs / up),
            "read": (mbs / r, mbs / down),
            "read+write": (mbs / e2e, mbs / (up + down)),
        }
        result: dict[str, Any] = {"bytes": total, "files": args.files, "line": args.line,
                                  "seconds": {"raw_upload": up, "raw_download": down,
                                              "etlcore_write": w, "etlcore_read": r,
                                              "etlcore_e2e": e2e}, "mb_per_s": {}}
        print(f"{args.files} files x {args.mb} MB ({mbs:.0f} MB, lines of {args.line} B), "
              f"{args.per_batch} files per batch, MinIO at {s['endpoint']}")
        print(f"{'':12} {'etlcore MB/s':>13} {'boto3 MB/s':>11} {'ratio':>7}")
        for what, (ours, theirs) in rows.items():
            print(f"{what:12} {ours:13.1f} {theirs:11.1f} {ours / theirs:7.0%}")
            result["mb_per_s"][what] = {"etlcore": ours, "boto3": theirs,
                                        "ratio": ours / theirs}
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
