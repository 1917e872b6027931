"""An untyped kafka source whose job reads only some fields builds only those (JSON column
pruning, :mod:`etlcore.graph.projection`): the same output and dead letters as without."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from etlcore.config import parse_config
from etlcore.connectors.queue import MemorySink
from etlcore.context import StreamingContext
from etlcore.graph.projection import NO_FIELD_PRUNING
from etlcore.jsonproject import ProjectedJson

from etlcore_kafka.config import KafkaSourceConfig
from etlcore_kafka.reader import KafkaReader

pytestmark = pytest.mark.services

BAD = {100: b'{"n": 1}', 250: b"{broken", 400: b"7", 555: b'{"user": "u5", "x": 1e400}',
       700: b'{"user": ["a"], "n": 2}'}


def _fill(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(900):
        value = BAD.get(i, json.dumps({"user": f"u{i % 7}", "n": i, "page": "/x"}).encode())
        producer.produce(topic, value=value, partition=i % 2)
    assert producer.flush(30) == 0


def _job(bootstrap: str, topic: str, runner: str) -> tuple[Any, ...]:
    name = f"pruned-{topic}-{runner}"
    MemorySink.clear(name)
    ctx = StreamingContext(1.0, clock="manual", max_rate_per_partition=200, runner=runner,
                           **({"workers": 2} if runner == "processes" else {}))
    (ctx.source("kafka", bootstrap_servers=bootstrap, topics=[topic])
        .reduce_by_key("sum", key="user", value="n")
        .sink("memory", name=name))
    metrics = ctx.run(until_idle=True)
    letters = sorted((repr(d["record"]), d["stage"], d["reason"]) for d in ctx.dead_letters)
    return ({b: sorted(rows) for b, rows in MemorySink.batches(name).items()}, letters,
            [b.records_in for b in metrics.batches])


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_a_job_of_field_references_gets_what_it_gets_from_whole_values(
        kafka_bootstrap: str, topics: Callable[..., str], runner: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    topic = topics(partitions=2)
    _fill(kafka_bootstrap, topic)
    decoded: list[int] = []
    split = ProjectedJson.decode_split

    def counted(self: ProjectedJson, raws: Any) -> Any:
        decoded.append(len(raws))
        return split(self, raws)

    monkeypatch.setattr(ProjectedJson, "decode_split", counted)
    pruned = _job(kafka_bootstrap, topic, runner)
    if runner == "local":  # the processes runner decodes in its workers
        assert sum(decoded) >= 900
    monkeypatch.setenv(NO_FIELD_PRUNING, "1")
    decoded.clear()
    whole = _job(kafka_bootstrap, topic, runner)
    assert not decoded
    assert pruned == whole
    reasons = [why for _, _, why in pruned[1]]
    assert len(reasons) == len(BAD)
    assert "invalid JSON: Number out of range - at `$[...]`" in reasons  # an unread field
    assert ("{'n': 1}", "reduce_by_key-1", "KeyError: 'user'") in pruned[1]  # the whole record


def test_a_pruned_reader_keeps_its_fields_through_pickling(kafka_bootstrap: str) -> None:
    config = parse_config(KafkaSourceConfig, {"bootstrap_servers": kafka_bootstrap,
                                              "topics": ["t"]})
    reader = KafkaReader(config)
    reader.prune_fields(frozenset({"user"}))
    shipped = pickle.loads(pickle.dumps(reader))
    assert isinstance(shipped._values, ProjectedJson)
    assert shipped._values.fields == ("user",)
    typed = KafkaReader(parse_config(KafkaSourceConfig, {
        "bootstrap_servers": kafka_bootstrap, "topics": ["t"], "value_schema": {"user": "str"}}))
    typed.prune_fields(frozenset({"user"}))  # a schema validates what it names: kept
    assert not isinstance(typed._values, ProjectedJson)
