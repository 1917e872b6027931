"""A flume -> files job run as a subprocess by the crash tests (SIGKILLed and restarted).

    python flume_job.py CKPT OUT PORT[,PORT...] [--max-unconsumed BYTES] [--slow S]

An agent resends a batch whose ``OK`` a crash lost after the log write, so
the log is at-least-once; ``map_with_state`` keeps the (agent header, body)
ids already emitted and the output holds each event once. The job stops when
the file ``OUT/stop`` exists and a batch planned after that saw nothing new.
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


def first_time(key: Any, line: str, state: Any) -> str | None:
    if state.exists():
        return None
    state.update(True)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("ports")
    parser.add_argument("--max-unconsumed", type=int, default=256 << 20)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds per batch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ctx = StreamingContext(0.1, args.checkpoint, name="flume-crash", checkpoint_interval=3)
    ports = [int(p) for p in args.ports.split(",")]
    events = ctx.source("flume", ports=ports, format="text",
                        max_unconsumed_bytes=args.max_unconsumed)

    def line(record: dict[str, Any]) -> tuple[str, str]:
        text = f"{record['headers'].get('agent', '-')}:{record['body']}"
        return text, text

    (events.map(line)
           .map_with_state(first_time)
           .filter(lambda r: r is not None)
           .sink("files", path=str(args.out / "files")))
    stop_file, seen_stop = args.out / "stop", []

    def after_batch(m: Any) -> None:
        if args.slow:
            time.sleep(args.slow)
        if seen_stop and m.records_in == 0:
            ctx.stop()
        elif stop_file.exists():
            seen_stop.append(m.batch_id)

    ctx.add_listener(after_batch)
    ctx.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
