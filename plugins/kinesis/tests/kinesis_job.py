"""A kinesis -> sqlite job run as a subprocess by the crash tests (SIGKILLed and restarted).

    python kinesis_job.py STREAM ENDPOINT CHECKPOINT DB [--until-idle] [--slow S] [--processes]

The sqlite sink appends, and commits the batch id in the same transaction, so a
record written twice would show up as two rows.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from etlcore import StreamingContext  # noqa: E402


def _row(record: dict[str, Any], pause: float) -> dict[str, Any]:
    """One flat row per record; the pause widens the window for a SIGKILL mid-batch."""
    if pause:
        time.sleep(pause)
    return {"i": record["data"]["i"], "k": record["data"]["k"], "shard": record["shard"],
            "seq": record["sequence_number"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("stream")
    parser.add_argument("endpoint")
    parser.add_argument("checkpoint")
    parser.add_argument("db")
    parser.add_argument("--until-idle", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds per record")
    parser.add_argument("--processes", action="store_true", help="tasks in 2 worker processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runner: dict[str, Any] = {"runner": "processes", "workers": 2} if args.processes else {}
    ctx = StreamingContext("20ms", args.checkpoint, name="kinesis-crash",
                           max_rate_per_partition=1500, **runner)  # 30/shard/batch
    config: dict[str, Any] = {
        "stream_name": args.stream, "endpoint_url": args.endpoint, "value_format": "json",
        "value_only": False, "aws_access_key_id": "etlcore", "aws_secret_access_key": "etlcore",
        "max_records_per_call": 20,
    }
    pause = args.slow
    (ctx.source("kinesis", **config)
        .map(lambda r: _row(r, pause))
        .sink("sqlite", path=args.db, table="records", mode="append"))
    ctx.run(until_idle=args.until_idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
