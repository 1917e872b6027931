"""Kafka end to end: how close etlcore gets to the raw client's consume rate.

Fills a topic with N JSON records, then measures in the same run
(1) confluent-kafka consuming the topic raw (the ceiling) and
(2) etlcore: topic -> parse JSON -> reduce_by_key_and_window -> output topic
(transactional kafka sink). Needs a broker (``python scripts/services/svc.py start kafka``).

    python benchmarks/kafka_e2e.py --records 200000 [--partitions 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def _make_topics(admin: AdminClient, names: list[str], partitions: int) -> None:
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    for fut in futures.values():
        fut.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=5).topics
        if all(n in md and len(md[n].partitions) == partitions for n in names):
            return
        time.sleep(0.1)


def fill(bootstrap: str, topic: str, n: int) -> float:
    """Produce ``n`` JSON click records; returns seconds taken."""
    rng = random.Random(7)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.num.messages": 10000, "compression.type": "lz4"})
    started = time.perf_counter()
    for i in range(n):
        value = json.dumps({"id": i, "user": f"u{rng.randrange(1000)}",
                            "page": f"/p/{rng.randrange(50)}", "ms": rng.randrange(5000)})
        while True:
            try:
                producer.produce(topic, value=value.encode())
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    return time.perf_counter() - started


def raw_consume(bootstrap: str, topic: str, partitions: int, n: int) -> float:
    """records/s of a plain consumer reading the topic from the start (values only)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, eof = 0, 0
    started = time.perf_counter()
    while got < n and eof < partitions:
        for msg in consumer.consume(10000, 1.0):
            err = msg.error()
            if err is None:
                msg.value()
                got += 1
            elif err.code() == KafkaError._PARTITION_EOF:
                eof += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    if got != n:
        raise SystemExit(f"raw consumer read {got} of {n} records")
    return got / elapsed


def etlcore_job(bootstrap: str, src: str, dst: str, n: int, per_batch: int) -> dict[str, Any]:
    """records/s of topic -> json -> windowed count per user -> output topic."""
    from etlcore.context import StreamingContext

    with tempfile.TemporaryDirectory() as ckpt:
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="kafka-bench",
                               max_rate_per_partition=per_batch)
        (ctx.source("kafka", bootstrap_servers=bootstrap, topics=[src])
            .map(lambda v: (v["user"], 1))
            .reduce_by_key_and_window("sum", length="10s", slide="2s")
            .sink("kafka", bootstrap_servers=bootstrap, topic=dst))
        started = time.perf_counter()
        metrics = ctx.run(until_idle=True)
        elapsed = time.perf_counter() - started
    if metrics.total_records_in != n:
        raise SystemExit(f"etlcore read {metrics.total_records_in} of {n} records")
    return {"records_per_s": n / elapsed, "seconds": elapsed, "batches": metrics.total_batches}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--per-batch", type=int, default=20_000,
                        help="max records per partition per batch (one batch = 1 s of clock)")
    parser.add_argument("--bootstrap", default=os.environ.get("ETLCORE_KAFKA_BOOTSTRAP",
                                                              "127.0.0.1:9092"))
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    run = uuid.uuid4().hex[:8]
    src, dst = f"bench-in-{run}", f"bench-out-{run}"
    _make_topics(admin, [src, dst], args.partitions)
    try:
        fill_s = fill(args.bootstrap, src, args.records)
        raw = raw_consume(args.bootstrap, src, args.partitions, args.records)
        job = etlcore_job(args.bootstrap, src, dst, args.records, args.per_batch)
    finally:
        for fut in admin.delete_topics([src, dst, f"{dst}.etlcore-commits"]).values():
            with contextlib.suppress(Exception):  # cleanup is best effort
                fut.result(30)
    result = {
        "records": args.records, "partitions": args.partitions, "per_batch": args.per_batch,
        "fill_records_per_s": args.records / fill_s,
        "raw_consume_records_per_s": raw,
        "etlcore_records_per_s": job["records_per_s"],
        "etlcore_batches": job["batches"],
        "ratio": job["records_per_s"] / raw,
    }
    print(f"fill (produce)          {result['fill_records_per_s']:>12,.0f} records/s")
    print(f"raw confluent consume   {raw:>12,.0f} records/s   (ceiling)")
    print(f"etlcore kafka->window->kafka {job['records_per_s']:>7,.0f} records/s   "
          f"({job['batches']} batches, {job['seconds']:.2f}s)")
    print(f"ratio etlcore / raw     {result['ratio']:>12.1%}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
