"""The kafka source and sink under etlcore's contract kit, against the real broker.

Each target is a fresh topic (two partitions), so tests and concurrent sessions
sharing the broker never see each other's records. The source re-reads planned
offset ranges; the sink commits each batch in one transaction with a batch-id
marker, so replays and repeated commits store once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from etlcore.contract import REMOVE, SinkContract, SourceContract, Target
from etlcore.sink import Sink
from etlcore.source import Source
from kafka_testlib import produce_json, read_all

pytestmark = pytest.mark.services

SECRET = "contract-kafka-secret-91c2"


def _topic(request: pytest.FixtureRequest, partitions: int = 2) -> str:
    return request.getfixturevalue("topics")(partitions=partitions)


class _SecretClientConfig:
    """The kit's secrets test gives secret fields strings; ``client_config`` is a mapping whose
    secret-looking keys are masked, so it gets them as values there instead."""

    def test_secrets_stay_out_of_reprs_and_errors(self) -> None:
        valid = self.new_target().config  # type: ignore[attr-defined]
        secrets = {"sasl.password": SECRET, "ssl.key.password": f"{SECRET}-2"}
        connector = self.build({**valid, "client_config": secrets})  # type: ignore[attr-defined]
        helper = connector.reader() if hasattr(connector, "reader") else connector.writer()
        for text in (repr(connector), str(connector), repr(connector.config), repr(helper)):
            assert SECRET not in text, f"a secret value shows in {text!r}"


class TestKafkaSource(_SecretClientConfig, SourceContract):
    plugin_name = "kafka"
    max_records = 4

    def config(self, path: Path) -> dict[str, Any]:
        bootstrap = self.request.getfixturevalue("kafka_bootstrap")
        return {"bootstrap_servers": bootstrap, "topics": [_topic(self.request)],
                "value_format": "json", "request_timeout": 30.0}

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        config = source.config  # type: ignore[attr-defined]
        records = [{"id": round * 100 + i, "round": round} for i in range(9)]
        produce_json(config.bootstrap_servers, config.topics[0], records)
        return records

    def produce_bad(self, source: Source) -> list[Any]:
        """Values that are not JSON are yielded as Rejected (the raw bytes) and dead-lettered."""
        from confluent_kafka import Producer

        config = source.config  # type: ignore[attr-defined]
        producer = Producer({"bootstrap.servers": config.bootstrap_servers})
        for key, value in ((b"k0", b'{"i": 1}'), (b"k1", b"{not json"), (b"k2", b"\xff\xfe")):
            producer.produce(config.topics[0], key=key, value=value)
        assert producer.flush(30) == 0
        return [b"{not json", b"\xff\xfe"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"bootstrap_servers": " "}, "bootstrap_servers"), ({"topics": []}, "topics"),
                ({"topics": ["a:b"]}, "topics[0]"), ({"value_format": "xml"}, "value_format"),
                ({"start": "middle"}, "start"), ({"start": {"nosuch:0": 1}}, "start.nosuch:0"),
                ({"isolation": "dirty"}, "isolation"),
                ({"client_config": {"group.id": "g"}}, "client_config.group.id"),
                ({"topics": REMOVE}, "topics")]


class TestKafkaSink(_SecretClientConfig, SinkContract):
    """Exactly once; a record the writer cannot encode fails the batch, naming it."""

    plugin_name = "kafka"
    bad_records_policy = "fail"

    def config(self, path: Path) -> dict[str, Any]:
        bootstrap = self.request.getfixturevalue("kafka_bootstrap")
        return {"bootstrap_servers": bootstrap, "topic": _topic(self.request),
                "key_field": "id", "request_timeout": 30.0}

    def sample_records(self) -> list[Any]:
        return [{"id": f"k{i}", "n": i, "tags": ["a", str(i)]} for i in range(7)]

    def bad_records(self) -> list[Any]:
        """Records without the key field cannot be keyed: the batch fails before any send."""
        return [{"no_id": 1}, ["a", "list"]]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Every committed record of the topic (read_committed), with its partition."""
        msgs = read_all(target.config["bootstrap_servers"], target.config["topic"])
        return [(m.partition(), m.key().decode(), json.loads(m.value())) for m in msgs]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"bootstrap_servers": "a:1,"}, "bootstrap_servers"), ({"topic": "a:b"}, "topic"),
                ({"key_field": ""}, "key_field"), ({"value_format": "xml"}, "value_format"),
                ({"transaction_timeout": 0.5}, "transaction_timeout"),
                ({"client_config": {"acks": "1"}}, "client_config.acks"),
                ({"topic": REMOVE}, "topic")]
