"""The kinesis source in jobs against a real Kinesis API (kinesalite from the service harness).

The planner and reader on their own (ranges, replays, pickling) are in test_kinesis_split.py.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from etlcore_kinesis import KinesisSourceConfig
from etlcore_kinesis.client import KinesisClient, KinesisError
from kinesis_testlib import assert_shard_order, numbered, put

from etlcore import StreamingContext
from etlcore.config import parse_config
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError, EtlcoreError

pytestmark = pytest.mark.services


def _run(config: dict[str, Any], sink: str, checkpoint: Path | None = None,
         **ctx_options: Any) -> StreamingContext:
    ctx = StreamingContext(1.0, checkpoint, clock="manual", **ctx_options)
    ctx.source("kinesis", **config).sink("memory", name=sink)
    return ctx


@pytest.mark.parametrize("runner", ["local", "processes", "spark"])
def test_round_trip_every_record_once_in_shard_order(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any],
    runner: str, request: pytest.FixtureRequest,
) -> None:
    """On every runner; off the driver's process readers re-read each planned range."""
    options: dict[str, Any] = {}
    if runner == "processes":
        options = {"runner": "processes", "workers": 2}
    elif runner == "spark":
        options = {"runner": "spark", "master": request.getfixturevalue("spark_master").url}
    stream = kinesis_stream_factory(shards=2)
    sent = numbered(0, 300)
    acks = put(kinesis_client, stream, sent)
    assert len({a["ShardId"] for a in acks}) == 2
    ctx = _run({**source_config, "stream_name": stream, "value_format": "json",
                "value_only": False, "max_records_per_call": 25}, "rt",
               max_rate_per_partition=60, **options)
    ctx.run(until_idle=True)
    got = MemorySink.results("rt")
    assert sorted(r["data"]["i"] for r in got) == list(range(300))
    assert_shard_order(got)
    assert {(r["shard"], r["sequence_number"]) for r in got} == {
        (a["ShardId"], a["SequenceNumber"]) for a in acks}
    assert all(isinstance(r["approximate_arrival_timestamp"], float) for r in got)
    assert all(r["partition_key"] == r["data"]["k"] for r in got)
    assert len(MemorySink.batches("rt")) >= 3  # 60 per shard per batch: several batches


def test_start_latest_skips_older_records_trim_horizon_reads_them(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any]
) -> None:
    stream = kinesis_stream_factory(shards=2)
    put(kinesis_client, stream, numbered(0, 20, tag="old"))
    latest = _run({**source_config, "stream_name": stream, "start": "latest",
                   "value_format": "json"}, "latest")
    latest.run(batches=1)
    assert MemorySink.results("latest") == []
    put(kinesis_client, stream, numbered(20, 20, tag="new"))
    latest.run(until_idle=True)
    assert sorted(r["i"] for r in MemorySink.results("latest")) == list(range(20, 40))

    horizon = _run({**source_config, "stream_name": stream, "value_format": "json"}, "th")
    horizon.run(until_idle=True)
    assert sorted(r["i"] for r in MemorySink.results("th")) == list(range(40))


def test_latest_is_fixed_when_the_job_first_starts(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any],
    tmp_path: Path,
) -> None:
    """Records put while a ``latest`` job is down are read after its restart."""
    stream = kinesis_stream_factory(shards=2)
    put(kinesis_client, stream, numbered(0, 10, tag="before"))
    config = {**source_config, "stream_name": stream, "start": "latest", "value_format": "json"}
    _run(config, "first", tmp_path / "ckpt").run(batches=2)
    assert MemorySink.results("first") == []
    time.sleep(0.01)
    put(kinesis_client, stream, numbered(10, 30, tag="while-down"))
    _run(config, "second", tmp_path / "ckpt").run(until_idle=True)
    assert sorted(r["i"] for r in MemorySink.results("second")) == list(range(10, 40))


def test_start_after_given_sequence_numbers(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any]
) -> None:
    stream = kinesis_stream_factory(shards=1)
    acks = put(kinesis_client, stream, numbered(0, 10))
    start = {acks[3]["ShardId"]: acks[3]["SequenceNumber"]}
    ctx = _run({**source_config, "stream_name": stream, "start": start,
                "value_format": "json"}, "mapped")
    ctx.run(until_idle=True)
    assert [r["i"] for r in MemorySink.results("mapped")] == list(range(4, 10))


def test_malformed_json_is_dead_lettered(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any]
) -> None:
    stream = kinesis_stream_factory(shards=1)
    put(kinesis_client, stream, [("a", b'{"ok": 1}'), ("a", b"not json {"), ("a", b'{"ok": 2}'),
                                 ("a", b"\xff\xfe")])
    ctx = _run({**source_config, "stream_name": stream, "value_format": "json"}, "json")
    ctx.run(until_idle=True)
    assert MemorySink.results("json") == [{"ok": 1}, {"ok": 2}]
    letters = ctx.dead_letters
    assert len(letters) == 2
    text = json.dumps(letters, default=repr)
    assert "undecodable json" in text and "not json" in text
    assert all(re.fullmatch(r"shard shardId-\d+, sequence \d+", d["origin"]) for d in letters)


def test_str_values(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any]
) -> None:
    stream = kinesis_stream_factory(shards=1)
    put(kinesis_client, stream, [("a", "héllo".encode()), ("a", b"world")])
    ctx = _run({**source_config, "stream_name": stream, "value_format": "str"}, "str")
    ctx.run(until_idle=True)
    assert MemorySink.results("str") == ["héllo", "world"]


def test_missing_stream_is_a_clear_error(source_config: dict[str, Any]) -> None:
    ctx = _run({**source_config, "stream_name": "no-such-stream-here"}, "missing")
    started = time.monotonic()
    with pytest.raises(EtlcoreError, match="no-such-stream-here.*not found"):
        ctx.run(batches=1)
    assert time.monotonic() - started < 5


def test_unreachable_endpoint_is_a_clear_error(source_config: dict[str, Any]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = _run({**source_config, "stream_name": "orders",
                "endpoint_url": f"http://127.0.0.1:{port}"}, "unreachable")
    with pytest.raises(KinesisError, match=f"cannot reach Kinesis at http://127.0.0.1:{port} "
                                           "for stream 'orders'"):
        ctx.run(batches=1)


def test_throttling_is_retried_with_a_warning(
    source_config: dict[str, Any], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kinesalite never throttles reads, so the throttle answers are stubbed."""
    monkeypatch.setattr("etlcore_kinesis.client._BASE_DELAY", 0.01)
    config = parse_config(KinesisSourceConfig, {**source_config, "stream_name": "s",
                                                "max_retries": 3})
    client = KinesisClient(config)
    with Stubber(client._client) as stub:
        for code in ("ProvisionedThroughputExceededException", "LimitExceededException"):
            stub.add_client_error("get_records", code, "Rate exceeded for shard")
        stub.add_response("get_records", {"Records": [], "NextShardIterator": "x" * 200,
                                          "MillisBehindLatest": 0})
        with caplog.at_level(logging.WARNING, logger="etlcore_kinesis"):
            resp = client.call("get_records", ShardIterator="x" * 200)
        assert resp["Records"] == []
        for _ in range(4):
            stub.add_client_error("get_records", "ProvisionedThroughputExceededException")
        with pytest.raises(KinesisError, match="stream 's' throttled .*after 3 retries"):
            client.call("get_records", ShardIterator="x" * 200)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("throttled (ProvisionedThroughputExceededException)" in w for w in warnings)
    assert any("throttled (LimitExceededException)" in w for w in warnings)


@pytest.mark.parametrize(("values", "key"), [
    ({"stream_name": ""}, "stream_name"),
    ({"stream_name": "s", "start": {"shardId-000000000000": "abc"}}, "start.shardId-000000000000"),
    ({"stream_name": "s", "start": "earliest"}, "start"),
    ({"stream_name": "s", "aws_access_key_id": "AKIA"}, "aws_secret_access_key"),
    ({"stream_name": "s", "max_records_per_call": 0}, "max_records_per_call"),
])
def test_config_errors_name_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(KinesisSourceConfig, values, "source 'kinesis'")
    assert info.value.key == f"source 'kinesis'.{key}"
    assert "AKIA" not in str(info.value)
