"""The kafka source and sink in jobs against the real broker: round trips, formats, secrets.

The halves on their own (ranges, placement, replays, pickling) are in test_kafka_split.py.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from etlcore._fast import partition as kernel
from etlcore.clock import ManualClock
from etlcore.config import parse_config, redacted
from etlcore.connectors.queue import MemorySink
from etlcore.context import StreamingContext
from etlcore.errors import ConfigError
from etlcore.source import SourceContext
from kafka_testlib import produce_json, read_all, values

from etlcore_kafka.config import KafkaSinkConfig, KafkaSourceConfig
from etlcore_kafka.source import KafkaSource

pytestmark = pytest.mark.services

SECRET = "hunter2-Sup3rS3cret"


def _source(bootstrap: str, topic: str, **config: Any) -> KafkaSource:
    source = KafkaSource(parse_config(KafkaSourceConfig, {
        "bootstrap_servers": bootstrap, "topics": [topic], **config}))
    source.open(SourceContext("kafka-test", ManualClock()))
    return source


def _end_transaction(producer: Producer, commit: bool) -> None:
    if commit:
        producer.commit_transaction(30)
    else:
        producer.flush(30)
        producer.abort_transaction(30)


def _runner(name: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """StreamingContext options for a runner; ``spark`` uses the harness's cluster."""
    if name == "processes":
        return {"runner": "processes", "workers": 2}
    if name == "spark":
        return {"runner": "spark", "master": request.getfixturevalue("spark_master").url}
    return {}


@pytest.mark.parametrize("runner", ["local", "processes", "spark"])
def test_round_trip_kafka_to_kafka(kafka_bootstrap: str, topics: Callable[..., str],
                                   tmp_path: Path, runner: str,
                                   request: pytest.FixtureRequest) -> None:
    """confluent-kafka in, transform, kafka sink out; read_committed sees each record once.

    On every runner: readers and writers run where the runner puts tasks, the
    driver plans and commits.
    """
    src, dst = topics(partitions=3), topics(partitions=4)
    produce_json(kafka_bootstrap, src, [{"id": i, "n": i % 7} for i in range(600)])
    # a committed and an aborted transaction leave markers and skipped offsets in the range
    tx = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"rt-{src}"})
    tx.init_transactions(30)
    for commit, ids in ((True, range(600, 650)), (False, range(900, 950))):
        tx.begin_transaction()
        for i in ids:
            tx.produce(src, key=str(i).encode(), value=json.dumps({"id": i, "n": i % 7}))
        _end_transaction(tx, commit)

    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", max_rate_per_partition=60,
                           name=f"round-trip-{runner}", **_runner(runner, request))
    (ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=[src])
        .map(lambda v: {"id": v["id"], "square": v["id"] ** 2})
        .sink("kafka", bootstrap_servers=kafka_bootstrap, topic=dst, key_field="id"))
    metrics = ctx.run(until_idle=True)
    assert metrics.total_records_in == 650
    assert max(b.records_in for b in metrics.batches) <= 3 * 60  # max_records per partition

    out = read_all(kafka_bootstrap, dst, expect=650)
    got = values(out)
    assert sorted(v["id"] for v in got) == list(range(650))
    assert all(v["square"] == v["id"] ** 2 for v in got)
    for msg in out:  # placed like Java's default partitioner: murmur2 of the key bytes
        assert msg.partition() == kernel.partition_for(msg.key(), 4)
        assert msg.key() == str(json.loads(msg.value())["id"]).encode()


def test_value_schema_decodes_validates_and_projects_whole_consumed_lists(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """Values through the typed decoder, many per consume() call and batch: a value that
    does not fit is a dead letter with the decoder's reason; a null value (tombstone) stays
    null; what lies beyond a batch's range is kept for the next batch."""
    topic = topics(partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
    bad = {500: b'{"user": "u500", "n": "five"}', 1200: b"{broken", 1900: b'{"n": 1}'}
    for i in range(2500):
        value = bad.get(i, json.dumps({"user": f"u{i}", "n": i, "page": "/x"}).encode())
        producer.produce(topic, value=None if i == 2400 else value, partition=0)
    assert producer.flush(30) == 0
    sink_name = f"typed-{topic}"
    MemorySink.clear(sink_name)
    ctx = StreamingContext(1.0, clock="manual", max_rate_per_partition=700)
    (ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=[topic],
                value_schema={"user": "str", "n": "int"}, value_required=["user"],
                value_output="tuple")
        .sink("memory", name=sink_name))
    metrics = ctx.run(until_idle=True)
    assert [b.records_in for b in metrics.batches if b.records_in] == [700, 700, 700, 400]
    got = MemorySink.results(sink_name)
    good = [i for i in range(2500) if i not in bad and i != 2400]
    assert [r for r in got if r is not None] == [(f"u{i}", i) for i in good]
    assert got.count(None) == 1
    assert [(d["reason"], d["origin"]) for d in ctx.dead_letters] == [
        ("does not fit the schema: Expected `int | null`, got `str` - at `$.n`",
         f"partition {topic}:0, offset 500"),
        ("invalid JSON: JSON is malformed: object keys must be strings (byte 1), "
         "near '{broken'", f"partition {topic}:0, offset 1200"),
        ("does not fit the schema: Object missing required field `user`",
         f"partition {topic}:0, offset 1900"),
    ]


def test_value_schema_settings_are_checked_before_the_job_runs(kafka_bootstrap: str) -> None:
    ctx = StreamingContext(1.0, clock="manual")
    with pytest.raises(ConfigError, match=r"value_schema\.n'.*a type or one of"):
        ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=["t"],
                   value_schema={"n": "integer"})
    with pytest.raises(ConfigError, match=r"value_schema'.*unless value_format is 'json'"):
        ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=["t"],
                   value_schema={"n": "int"}, value_format="str")


def test_kcat_input_and_malformed_json_dead_letters(kafka_bootstrap: str,
                                                    topics: Callable[..., str]) -> None:
    """kcat (a third-party client) produces; undecodable lines go to the dead letters."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat not installed: run .ci/install-services.sh"
    topic = topics(partitions=2)
    lines = [json.dumps({"id": i}) for i in range(20)] + ["{broken", "not json", "\xff"]
    subprocess.run([kcat, "-P", "-b", kafka_bootstrap, "-t", topic, "-K:"],
                   input="".join(f"k{i}:{line}\n" for i, line in enumerate(lines)).encode(),
                   check=True, timeout=60)
    MemorySink.clear("kcat")
    ctx = StreamingContext(1.0, clock="manual")
    (ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=[topic], value_only=False)
        .map(lambda r: (r["key"], r["value"]["id"], r["topic"], r["offset"] >= 0))
        .sink("memory", name="kcat"))
    metrics = ctx.run(until_idle=True)
    got = MemorySink.results("kcat")
    assert sorted(r[1] for r in got) == list(range(20))
    assert all(r[0] == f"k{r[1]}" and r[2] == topic and r[3] for r in got)
    assert metrics.total_dead_letters == 3
    letters = ctx.dead_letters
    assert len(letters) == 3
    assert all(d["reason"].startswith("invalid JSON: ") for d in letters)
    bad = {b"{broken", b"not json", "\xff".encode()}
    # the raw bytes, or their ascii() repr once made storable (``record_repr``)
    assert {ascii(d["record"]) if isinstance(d["record"], bytes) else d["record"]
            for d in letters} == {ascii(b) for b in bad}
    origins = {d["origin"] for d in letters}  # where to find each one in Kafka
    assert len(origins) == 3
    assert all(re.fullmatch(rf"partition {topic}:[01], offset \d+", o) for o in origins)


def test_group_id_commits_processed_offsets(kafka_bootstrap: str,
                                            topics: Callable[..., str]) -> None:
    topic = topics(partitions=2)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(40)])
    group = f"lag-{topic}"
    ctx = StreamingContext(1.0, clock="manual")
    ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=[topic], group_id=group
               ).sink("memory", name="grp")
    ctx.run(until_idle=True)
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = consumer.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
    consumer.close()
    assert sum(tp.offset for tp in committed) == 40


def test_config_errors_name_the_key(kafka_bootstrap: str) -> None:
    base = {"bootstrap_servers": kafka_bootstrap, "topics": ["t"]}
    cases = [
        ({"bootstrap_servers": kafka_bootstrap}, "topics"),
        ({**base, "start": "middle"}, "start"),
        ({**base, "start": {"t:x": 3}}, "start.t:x"),
        ({**base, "value_format": "avro"}, "value_format"),
        ({**base, "client_config": {"enable.auto.commit": True}},
         "client_config.enable.auto.commit"),
        ({**base, "client_config": {"isolation.level": "read_uncommitted"}},
         "client_config.isolation.level"),
    ]
    for values_, key in cases:
        with pytest.raises(ConfigError) as info:
            StreamingContext(1.0).source("kafka", name="src", **values_)
        assert info.value.key == f"source 'src'.{key}", info.value
    with pytest.raises(ConfigError) as info:
        parse_config(KafkaSinkConfig, {"bootstrap_servers": kafka_bootstrap}, "sink")
    assert info.value.key == "sink.topic"


def test_secrets_never_shown(kafka_bootstrap: str, topics: Callable[..., str], tmp_path: Path,
                             caplog: pytest.LogCaptureFixture,
                             capfd: pytest.CaptureFixture[str]) -> None:
    """Secret client settings stay out of reprs, errors, logs and ``etlcore plugins``."""
    secrets = {"sasl.password": SECRET, "ssl.key.password": SECRET + "1",
               "sasl.oauthbearer.client.secret": SECRET + "2", "x.token": SECRET + "3",
               "sasl.jaas.config": SECRET + "4"}
    caplog.set_level(logging.DEBUG)
    config = parse_config(KafkaSourceConfig, {"bootstrap_servers": kafka_bootstrap,
                                              "topics": ["t"], "client_config": secrets})
    shown = [repr(config), str(config), repr(KafkaSource(config)),
             repr(KafkaSource(config).reader()), json.dumps(redacted(config))]
    assert "sasl.password" in shown[0] and "<redacted>" in shown[0]
    # librdkafka refuses the Java-only JAAS key and would quote what it dislikes
    with pytest.raises(ConfigError) as info:
        _source(kafka_bootstrap, "t", client_config=secrets)
    shown.append(str(info.value))
    assert "client_config" in info.value.key
    with pytest.raises(ConfigError) as info:
        parse_config(KafkaSinkConfig, {"bootstrap_servers": kafka_bootstrap, "topic": "t",
                                       "client_config": f"sasl.password={SECRET}"})
    shown.append(str(info.value))
    # a working client with secrets set (ignored on PLAINTEXT) and librdkafka debug logging
    working = {k: v for k, v in secrets.items() if k not in ("sasl.jaas.config", "x.token")}
    topic, out_topic = topics(), topics()
    produce_json(kafka_bootstrap, topic, [{"id": 1}])
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual")
    (ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=[topic],
                client_config={**working, "debug": "conf,security"})
        .sink("kafka", bootstrap_servers=kafka_bootstrap, topic=out_topic,
              client_config=working))
    assert ctx.run(until_idle=True).total_records_in == 1
    plugins = subprocess.run([sys.executable, "-m", "etlcore.cli", "plugins", "--json"],
                             capture_output=True, text=True, check=True, timeout=60,
                             cwd=Path(__file__).resolve().parents[3])
    described = [p for p in json.loads(plugins.stdout) if p["name"] == "kafka"]
    assert {p["kind"] for p in described} == {"source", "sink"}
    out, err = capfd.readouterr()
    everything = "\n".join(shown + [caplog.text, plugins.stdout, plugins.stderr, out, err])
    assert SECRET not in everything
