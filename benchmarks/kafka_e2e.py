"""Kafka end to end (W5): how close etlcore gets to the raw client's consume rate.

Fills a topic with N JSON records (record i to partition i % partitions, so
every batch's offset ranges are known in advance), then measures in the same run
(1) confluent-kafka consuming the topic raw (the ceiling) and
(2) etlcore: topic -> parse JSON -> reduce_by_key_and_window(key="user") -> output topic
(transactional kafka sink). The output topic is then read back (untimed) and
checked against a reference computed from the generated users by separate code:
every emitted window's (user, count) rows. Needs a broker
(``python scripts/services/svc.py start kafka``).

    python benchmarks/kafka_e2e.py --records 200000 [--partitions 3] [--json out.json]

Exits 1 when the output differs from the reference.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
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


WINDOW_BATCHES, SLIDE_BATCHES = 10, 2  # the job's window: 10 s sliding every 2 s, 1 s batches


def users(n: int) -> list[str]:
    """The ``user`` of record i, as :func:`fill` writes it (same seed, same draws)."""
    rng = random.Random(7)
    out = []
    for _ in range(n):
        out.append(f"u{rng.randrange(1000)}")
        rng.randrange(50)
        rng.randrange(5000)
    return out


def fill(bootstrap: str, topic: str, n: int, partitions: int) -> float:
    """Produce ``n`` JSON click records, record i to partition i % partitions; seconds taken."""
    rng = random.Random(7)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.num.messages": 10000, "compression.type": "lz4"})
    started = time.perf_counter()
    for i in range(n):
        value = json.dumps({"id": i, "user": f"u{rng.randrange(1000)}",
                            "page": f"/p/{rng.randrange(50)}", "ms": rng.randrange(5000)})
        while True:
            try:
                producer.produce(topic, value=value.encode(), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    return time.perf_counter() - started


def raw_consume(bootstrap: str, topic: str, partitions: int, n: int) -> float:
    """records/s of a plain consumer reading the topic from the start (values only)."""
    # the same client tuning etlcore's reader uses (etlcore_kafka.reader.consumer_conf):
    # librdkafka's default 1,000 ms fetch.queue.backoff.ms pauses a partition whose
    # prefetch queue filled, which from ~500k records on left the ceiling at ~0.19 M rec/s
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True, "fetch.wait.max.ms": 100,
                         "queued.max.messages.kbytes": 16384, "fetch.queue.backoff.ms": 10})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, eof = 0, 0
    started = time.perf_counter()
    while got < n and eof < partitions:
        msgs = consumer.consume(min(10000, n - got), 1.0)
        # the client's best: values taken with a map over the C methods, as etlcore's
        # reader takes them; a Python loop per message cost ~15 ms more per 200k records
        errors = list(map(Message.error, msgs))
        if not any(errors):  # a KafkaError is truthy (and == None raises)
            got += len(list(map(Message.value, msgs)))
            continue
        for msg, err in zip(msgs, errors, strict=True):
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


def reference(n: int, partitions: int, per_batch: int, batches: int) -> list[tuple[str, int]]:
    """Every emitted window's ``(user, count)`` rows, sorted, worked out from the data alone.

    Record i sits at offset i // partitions of its partition, so it is read in
    batch offset // per_batch. A window is emitted at batch e when (e + 1) is a
    multiple of the slide and covers batches e - length + 1 .. e (Spark
    Streaming's reduceByKeyAndWindow); ``batches`` counts the final idle one.
    """
    per_batch_users: dict[int, Counter[str]] = {}
    for i, user in enumerate(users(n)):
        per_batch_users.setdefault((i // partitions) // per_batch, Counter())[user] += 1
    rows: list[tuple[str, int]] = []
    for e in range(batches):
        if (e + 1) % SLIDE_BATCHES:
            continue
        window: Counter[str] = Counter()
        for b in range(e - WINDOW_BATCHES + 1, e + 1):
            window.update(per_batch_users.get(b, Counter()))
        rows.extend(window.items())
    return sorted(rows)


def read_output(bootstrap: str, topic: str, partitions: int) -> list[tuple[str, int]]:
    """The committed ``(user, count)`` rows of the output topic, sorted (untimed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    rows: list[tuple[str, int]] = []
    eof: set[int] = set()
    deadline = time.monotonic() + 120
    while len(eof) < partitions and time.monotonic() < deadline:
        for msg in consumer.consume(10000, 1.0):
            err = msg.error()
            if err is None:
                rows.append((msg.key().decode(), json.loads(msg.value())))
            elif err.code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
    consumer.close()
    return sorted(rows)


def digest(rows: list[tuple[str, int]]) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


#: The job's two ways of reading the values: any JSON into dicts, or only the field it uses
#: through the source's typed decoder (``value_schema``: parse, validate, project in C).
#: Both name the key as a field the window reads (``key="user"``); ``typed-map`` is the
#: job as first written, with a Python ``map`` to ``(user, 1)`` per record.
VARIANTS: dict[str, dict[str, Any]] = {
    "untyped": {},
    "typed": {"value_schema": {"user": "str"}},
    "typed-map": {"value_schema": {"user": "str"}},
    "typed-planfirst": {"value_schema": {"user": "str"}},
}
#: Variants that log each batch's plan before its tasks start, as every job did before the
#: plan was written beside the tasks (2026-12-05): the A/B of that change in one run.
PLAN_FIRST = {"typed-planfirst"}


def etlcore_job(bootstrap: str, src: str, dst: str, n: int, per_batch: int,
                source_options: dict[str, Any], fields: bool = True,
                plan_first: bool = False) -> dict[str, Any]:
    """records/s of topic -> json -> windowed count per user -> output topic."""
    from etlcore.context import StreamingContext
    from etlcore.plugin.registry import get_registry

    # load the plugin before the clock starts, as the raw consumer's import is untimed too
    get_registry()
    importlib.import_module("etlcore_kafka.source")
    sink_module = importlib.import_module("etlcore_kafka.sink")
    # the sink lets the plan be logged beside the tasks; plan_first takes that back
    sink_module.KafkaSink.plan_before_write = plan_first
    with tempfile.TemporaryDirectory() as ckpt:
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="kafka-bench",
                               max_rate_per_partition=per_batch)
        clicks = ctx.source("kafka", bootstrap_servers=bootstrap, topics=[src],
                            **source_options)
        counts = (clicks.reduce_by_key_and_window("count", length="10s", slide="2s",
                                                  key="user") if fields else
                  clicks.map(lambda v: (v["user"], 1))
                  .reduce_by_key_and_window("sum", length="10s", slide="2s"))
        counts.sink("kafka", bootstrap_servers=bootstrap, topic=dst)
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
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of raw, untyped, typed (interleaved); medians are reported")
    parser.add_argument("--variants", default="typed,untyped",
                        help="which jobs to run: untyped (any JSON into dicts), typed "
                             "(value_schema), typed-map (typed, with a map to (user, 1) "
                             "instead of key='user'), typed-planfirst (typed, the plan "
                             "logged before the tasks start, not beside them); the first one "
                             "named is reported as W5")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    variants = {v: VARIANTS[v] for v in args.variants.split(",")}

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    run = uuid.uuid4().hex[:8]
    src = f"bench-in-{run}"
    rounds = range(max(1, args.repeat))
    dsts = {(v, r): f"bench-out-{v}-{r}-{run}" for v in variants for r in rounds}
    _make_topics(admin, [src, *dsts.values()], args.partitions)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    try:
        fill_s = fill(args.bootstrap, src, args.records, args.partitions)
        # raw and etlcore interleaved, so that load on a shared machine hits both alike
        raws = [raw_consume(args.bootstrap, src, args.partitions, args.records)]
        for r in rounds:
            for variant, options in variants.items():
                job = etlcore_job(args.bootstrap, src, dsts[variant, r], args.records,
                                  args.per_batch, options, fields=not variant.endswith("-map"),
                                  plan_first=variant in PLAN_FIRST)
                raws.append(raw_consume(args.bootstrap, src, args.partitions, args.records))
                got = read_output(args.bootstrap, dsts[variant, r], args.partitions)
                want = reference(args.records, args.partitions, args.per_batch, job["batches"])
                job.update(checksum=digest(got), reference=digest(want), correct=got == want,
                           output_rows=len(got))
                runs[variant].append(job)
    finally:
        topics = [src, *dsts.values(), *(f"{d}.etlcore-commits" for d in dsts.values())]
        for fut in admin.delete_topics(topics).values():
            with contextlib.suppress(Exception):  # cleanup is best effort
                fut.result(30)
    # the client's best run: a fresh consumer's first fetch of a topic sometimes stalls
    # about 1 s (seen in 4 of 7 runs on 2026-12-04), which a median would count as its rate
    raw = max(raws)
    jobs: dict[str, dict[str, Any]] = {}
    for variant, done in runs.items():
        rate = statistics.median(j["records_per_s"] for j in done)
        jobs[variant] = {"records_per_s": rate, "runs": [j["records_per_s"] for j in done],
                         "seconds": statistics.median(j["seconds"] for j in done),
                         "batches": done[0]["batches"], "ratio": rate / raw,
                         "correct": all(j["correct"] for j in done),
                         "checksum": done[-1]["checksum"], "reference": done[-1]["reference"],
                         "output_rows": done[-1]["output_rows"]}
    main_job = jobs[next(iter(variants))]
    result = {
        "records": args.records, "partitions": args.partitions, "per_batch": args.per_batch,
        "fill_records_per_s": args.records / fill_s,
        "raw_consume_records_per_s": raw,
        "raw_consume_runs": raws,
        "etlcore_records_per_s": main_job["records_per_s"],
        "etlcore_batches": main_job["batches"],
        "ratio": main_job["ratio"],
        "checksum": main_job["checksum"], "reference": main_job["reference"],
        "correct": all(j["correct"] for j in jobs.values()),
        "variants": jobs,
    }
    print(f"fill (produce)          {result['fill_records_per_s']:>12,.0f} records/s")
    print(f"raw confluent consume   {raw:>12,.0f} records/s   (the ceiling: best of "
          + " / ".join(f"{r:,.0f}" for r in raws) + ")")
    for variant, job in jobs.items():
        print(f"etlcore {variant:<8} {job['records_per_s']:>10,.0f} records/s  (median of "
              + " / ".join(f"{r:,.0f}" for r in job["runs"])
              + f"; {job['batches']} batches)  {job['ratio']:.1%} of raw  "
              f"output {job['output_rows']} rows, checksum {job['checksum']} "
              f"{'== reference' if job['correct'] else '!= reference ' + job['reference']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
