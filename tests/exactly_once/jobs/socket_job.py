"""Crash-test job: numbered lines over a socket (listen mode, acks) -> files, once each.

    python socket_job.py CKPT OUT PORT

The receiver acks a line only after it is in the write-ahead log, but an ack
can be lost in a crash after the log write, and the client then resends the
line: the log is at-least-once. ``map_with_state`` keeps the ids already
emitted, so the output holds each line once. The job stops when the file
``OUT/stop`` exists and a batch planned after that saw no new lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from etlcore import StreamingContext


def first_time(key, line, state):
    if state.exists():
        return None
    state.update(True)
    return line


def main(ckpt: Path, out: Path, port: int) -> None:
    ctx = StreamingContext(0.1, ckpt, name="lines", checkpoint_interval=3)
    lines = ctx.source("socket", host="127.0.0.1", port=port, mode="listen", ack=True)
    (lines.map(lambda line: (int(line.split(":", 1)[0]), line))
          .map_with_state(first_time)
          .filter(lambda r: r is not None)
          .sink("files", path=str(out / "files")))
    stop_file, seen_stop = out / "stop", []

    def stop_when_drained(m):
        if seen_stop and m.records_in == 0:
            ctx.stop()
        elif stop_file.exists():
            seen_stop.append(m.batch_id)  # batches planned from now on see every acked line

    ctx.add_listener(stop_when_drained)
    ctx.run()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
