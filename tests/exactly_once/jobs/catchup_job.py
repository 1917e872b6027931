"""Crash-test job: a queue of small steps planned in catch-up batches, into a files sink.

    python catchup_job.py CKPT OUT

``CATCH_UP`` is the cap in records (each step holds ``STEP`` records). At batch
``KILL_AT`` the job SIGKILLs itself once (``OUT/killed`` marks it) after the plan is
logged and before any sink commits. Every batch's plan goes to ``OUT/batches.jsonl``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from etlcore import StreamingContext

STEPS, STEP = 20, 3
QUEUE = [[{"id": s * STEP + i} for i in range(STEP)] for s in range(STEPS)]


def main(ckpt: Path, out: Path) -> None:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="catchup",
                           catch_up=int(os.environ["CATCH_UP"]))
    kill_at = int(os.environ.get("KILL_AT", "-1"))
    marker = out / "killed"

    def kill(batch_id: int, records: list[object]) -> None:
        if batch_id == kill_at and not marker.exists():
            marker.write_text("")
            os.kill(os.getpid(), signal.SIGKILL)

    def log(m) -> None:
        with open(out / "batches.jsonl", "a") as f:
            f.write(json.dumps({"batch_id": m.batch_id, "replay": m.replay, "plan": m.plan,
                                "records_in": m.records_in}) + "\n")

    stream = ctx.queue_stream(QUEUE, name="steps")
    stream.foreach_batch(kill)
    stream.sink("files", path=str(out / "files"))
    ctx.add_listener(log)
    ctx.run(until_idle=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
