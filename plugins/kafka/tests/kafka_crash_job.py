"""A Kafka -> transform -> Kafka job with a checkpoint, run as a child process and killed.

    python kafka_crash_job.py BOOTSTRAP IN_TOPIC OUT_TOPIC CHECKPOINT [--until-idle] [--processes]

``--processes`` runs the stage tasks in two worker processes (readers and writers pickled).
"""

from __future__ import annotations

import sys

from etlcore.context import StreamingContext


def main(argv: list[str]) -> None:
    bootstrap, src, dst, ckpt = argv[:4]
    runner = {"runner": "processes", "workers": 2} if "--processes" in argv else {}
    ctx = StreamingContext(0.05, ckpt, name="crash-job", max_rate_per_partition=400, **runner)
    (ctx.source("kafka", bootstrap_servers=bootstrap, topics=[src])
        .map(lambda v: {"id": v["id"], "double": v["id"] * 2})
        .sink("kafka", bootstrap_servers=bootstrap, topic=dst, key_field="id"))
    ctx.run(until_idle="--until-idle" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
