"""Smoke tests: the harness's Kafka answers real clients (confluent-kafka and kcat)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

pytestmark = pytest.mark.services


def _consume(
    bootstrap: str, topic: str, count: int, isolation: str = "read_uncommitted"
) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(err)
            out.append(msg)
    finally:
        consumer.close()
    return out


@pytest.mark.kafka_topic(partitions=3)
def test_produce_consume_round_trip(kafka_bootstrap: str, kafka_topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(30)}
    for key, value in sent.items():
        producer.produce(kafka_topic, key=key, value=value)
    assert producer.flush(30) == 0

    got = _consume(kafka_bootstrap, kafka_topic, len(sent))
    assert {m.key(): m.value() for m in got} == sent
    assert {m.partition() for m in got} == {0, 1, 2}


def test_transactions_read_committed(kafka_bootstrap: str, kafka_topic: str) -> None:
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(60)

    def txn(values: list[bytes], commit: bool) -> None:
        producer.begin_transaction()
        for v in values:
            producer.produce(kafka_topic, value=v)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.flush(30)
            producer.abort_transaction(30)

    txn([b"c1", b"c2", b"c3"], commit=True)
    txn([b"a1", b"a2"], commit=False)
    txn([b"end"], commit=True)

    committed = _consume(kafka_bootstrap, kafka_topic, 4, "read_committed")
    assert [m.value() for m in committed] == [b"c1", b"c2", b"c3", b"end"]
    uncommitted = _consume(kafka_bootstrap, kafka_topic, 6, "read_uncommitted")
    assert [m.value() for m in uncommitted] == [b"c1", b"c2", b"c3", b"a1", b"a2", b"end"]


def test_kcat_produces_confluent_consumes(kafka_bootstrap: str, kafka_topic: str) -> None:
    kcat = shutil.which("kcat")
    assert kcat, "kcat not installed: run .ci/install-services.sh"
    subprocess.run(
        [kcat, "-P", "-b", kafka_bootstrap, "-t", kafka_topic, "-K:", "-p", "0"],
        input=b"key1:hello from kcat\nkey2:second\n",
        check=True,
        timeout=60,
    )
    got = _consume(kafka_bootstrap, kafka_topic, 2)
    assert [(m.key(), m.value()) for m in got] == [
        (b"key1", b"hello from kcat"),
        (b"key2", b"second"),
    ]
    # And the other way round: kcat reads back what is there.
    out = subprocess.run(
        [
            kcat,
            "-C",
            "-b",
            kafka_bootstrap,
            "-t",
            kafka_topic,
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s\n",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.splitlines() == [b"key1=hello from kcat", b"key2=second"]


@pytest.mark.slow
@pytest.mark.parametrize("kill", [False, True], ids=["clean", "crash"])
def test_broker_restart_keeps_data(
    kafka_bootstrap: str,
    kafka_topic: str,
    restart_service: Callable[..., float],
    kill: bool,
) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(kafka_topic, value=b"before")
    assert producer.flush(30) == 0

    restart_service("kafka", kill=kill)

    producer.produce(kafka_topic, value=b"after")  # the same producer reconnects
    assert producer.flush(60) == 0
    got = _consume(kafka_bootstrap, kafka_topic, 2)
    assert [m.value() for m in got] == [b"before", b"after"]
