"""The kinesis planner and reader split at the pickling boundary, against kinesalite.

The driver half (KinesisSource) is driven by hand; the worker half (KinesisReader)
travels through pickle, cloudpickle and a spawned process as a runner ships it.
"""

from __future__ import annotations

import logging
import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import cloudpickle
import pytest
from botocore.stub import Stubber
from etlcore_kinesis import KinesisSource, KinesisSourceConfig
from etlcore_kinesis import source as kinesis_source
from etlcore_kinesis.client import KinesisError
from etlcore_kinesis.source import KinesisReader
from kinesis_testlib import numbered, put

from etlcore.clock import make_clock
from etlcore.config import parse_config
from etlcore.source import ReaderContext, SourceContext

pytestmark = pytest.mark.services

PICKLERS = [pytest.param(pickle, id="pickle"), pytest.param(cloudpickle, id="cloudpickle")]
Range = tuple[str, Any, Any]


def _planner(source_config: dict[str, Any], stream: str, **config: Any) -> KinesisSource:
    source = KinesisSource(parse_config(KinesisSourceConfig, {
        **source_config, "stream_name": stream, "value_format": "json", **config}))
    source.open(SourceContext("k", make_clock("manual")))
    return source


def _reader(source: KinesisSource, pickler: Any = pickle) -> KinesisReader:
    reader = pickler.loads(pickler.dumps(source.reader()))
    reader.open(ReaderContext("k", "split-job"))
    return reader


def _plan_all(source: KinesisSource, per_batch: int) -> list[Range]:
    """Every range of every shard, ``per_batch`` records at most, as consecutive batches plan."""
    ranges = []
    for shard in source.partitions():
        start = source.initial_position(shard)
        while (end := source.plan(shard, start, per_batch)) != start:
            ranges.append((shard, start, end))
            start = end
    return ranges


def _read_in_child(reader_bytes: bytes, ranges: list[Range]) -> list[list[Any]]:
    """In a spawned process (no hand-off there): unpickle, open as a worker, read."""
    reader = cloudpickle.loads(reader_bytes)
    reader.open(ReaderContext("k", "split-job", worker="process-child"))
    try:
        return [reader.read(*rng) for rng in ranges]
    finally:
        reader.close()


@pytest.mark.parametrize("pickler", PICKLERS)
def test_reader_pickles_as_config(kinesis_client: Any, kinesis_stream_factory: Any,
                                  source_config: dict[str, Any], pickler: Any) -> None:
    stream = kinesis_stream_factory(shards=1)
    put(kinesis_client, stream, numbered(0, 5))
    source = _planner(source_config, stream)
    reader = _reader(source, pickler)
    assert reader.config == source.config and reader._client is not None
    ((shard, start, end),) = _plan_all(source, 10)
    assert [r["i"] for r in reader.read(shard, start, end)] == list(range(5))
    again = pickler.loads(pickler.dumps(reader))  # opened: still only the config travels
    assert again.config == source.config and again._client is None
    reader.close()
    source.close()


def test_unpickled_reader_reads_the_same_ranges(kinesis_client: Any, kinesis_stream_factory: Any,
                                                source_config: dict[str, Any]) -> None:
    """The planner's hand-off, a re-read in this process and one in another process agree."""
    stream = kinesis_stream_factory(shards=2)
    put(kinesis_client, stream, numbered(0, 60))
    source = _planner(source_config, stream, max_records_per_call=7)
    ranges = _plan_all(source, 12)
    assert len(ranges) >= 6
    # the planner left only each shard's last range for a same-process reader
    assert len([k for k in kinesis_source._handoff if k[1] == stream]) == 2
    local = _reader(source)
    handed = [local.read(*rng) for rng in ranges]
    assert not [k for k in kinesis_source._handoff if k[1] == stream]  # taken by the reads
    assert sorted(r["i"] for part in handed for r in part) == list(range(60))
    reread = [_reader(source, cloudpickle).read(*rng) for rng in ranges]
    assert reread == handed
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        child = pool.submit(_read_in_child, cloudpickle.dumps(source.reader()), ranges)
        assert child.result(timeout=120) == handed
    local.close()
    source.close()


def test_a_restarted_source_rereads_planned_ranges_exactly(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any]
) -> None:
    """Ranges planned by one process are read identically by another reader (no hand-off)."""
    stream = kinesis_stream_factory(shards=1)
    put(kinesis_client, stream, numbered(0, 25))
    planner = _planner(source_config, stream)
    (shard,) = planner.partitions()
    start = planner.initial_position(shard)
    ranges = []
    for _ in range(3):
        end = planner.plan(shard, start, 10)
        ranges.append((start, end))
        start = end
    assert ranges[0][0] == {"at": "TRIM_HORIZON"} and "first" in ranges[0][1]
    assert planner.plan(shard, start, 10) == start  # nothing new
    assert planner.estimate(shard, *ranges[-1]) == 5 and planner.estimate(shard, *ranges[0]) is None
    planner.close()  # drops its hand-off, like a process that died
    replayed = [_reader(planner).read(shard, s, e) for s, e in ranges]
    assert [[r["i"] for r in part] for part in replayed] == [
        list(range(0, 10)), list(range(10, 20)), list(range(20, 25))]


def test_reader_retries_throttling_and_needs_open(source_config: dict[str, Any],
                                                  caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's reads go through the retry policy (kinesalite never throttles: stubbed)."""
    monkeypatch.setattr("etlcore_kinesis.client._BASE_DELAY", 0.01)
    config = parse_config(KinesisSourceConfig, {**source_config, "stream_name": "s",
                                                "value_format": "json"})
    start, end = {"after": "1"}, {"after": "3"}
    with pytest.raises(KinesisError, match="before open"):
        KinesisReader(config).read("shardId-0", start, end)
    reader = pickle.loads(pickle.dumps(KinesisReader(config)))
    reader.open(ReaderContext("k", "split-job"))
    records = [{"SequenceNumber": seq, "Data": b'{"n": %s}' % seq.encode(), "PartitionKey": "a"}
               for seq in ("2", "3", "4")]
    with Stubber(reader._client._client) as stub:
        stub.add_response("get_shard_iterator", {"ShardIterator": "x" * 200})
        stub.add_client_error("get_records", "ProvisionedThroughputExceededException")
        stub.add_response("get_records", {"Records": records, "NextShardIterator": "y" * 200,
                                          "MillisBehindLatest": 0})
        with caplog.at_level(logging.WARNING, logger="etlcore_kinesis"):
            assert reader.read("shardId-0", start, end) == [{"n": 2}, {"n": 3}]
    assert "throttled (ProvisionedThroughputExceededException)" in caplog.text
    reader.close()


def test_tuning_options_stay_out_of_the_fingerprint() -> None:
    """Call limits and retries change how the stream is read, not what: a restart that
    changes them resumes the checkpoint."""
    base = {"stream_name": "clicks", "region": "eu-west-1"}
    tuned = {**base, "max_records_per_call": 50, "max_records_per_batch": 7, "max_retries": 2}
    identity = KinesisSource(parse_config(KinesisSourceConfig, base)).identity()
    assert KinesisSource(parse_config(KinesisSourceConfig, tuned)).identity() == identity
    assert identity["stream_name"] == "clicks" and "max_retries" not in identity
    other = KinesisSource(parse_config(KinesisSourceConfig, {**base, "stream_name": "views"}))
    assert other.identity() != identity
