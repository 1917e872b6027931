"""Helpers shared by the Kafka plugin tests: produce, read back, wait."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def produce_json(bootstrap: str, topic: str, records: list[dict[str, Any]],
                 key: str = "id", **conf: Any) -> None:
    """Produce ``records`` as JSON values keyed by ``str(record[key])``."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    for record in records:
        producer.produce(topic, key=str(record[key]).encode(), value=json.dumps(record).encode())
    assert producer.flush(30) == 0


def partitions_of(bootstrap: str, topic: str) -> int:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return len(md.topics[topic].partitions)


def read_all(bootstrap: str, topic: str, isolation: str = "read_committed",
             expect: int | None = None, timeout: float = 30.0) -> list[Message]:
    """Every message of ``topic`` from the beginning, up to its end (the LSO when committed).

    With ``expect``, keeps reading until that many arrived (or the timeout).
    """
    n = partitions_of(bootstrap, topic)
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
        "enable.auto.commit": False, "isolation.level": isolation,
        "enable.partition.eof": True, "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(n)])
    out: list[Message] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if len(at_end) == n and (expect is None or len(out) >= expect):
                break
            for msg in consumer.consume(1000, 0.2):
                err = msg.error()
                if err is None:
                    out.append(msg)
                    at_end.discard(msg.partition())
                elif err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                else:
                    raise AssertionError(err)
    finally:
        consumer.close()
    return out


def values(msgs: list[Message]) -> list[Any]:
    return [json.loads(m.value()) for m in msgs]


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
