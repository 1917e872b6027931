"""The kafka source and sink split at the pickling boundary, against the real broker.

The driver halves (KafkaSource, KafkaSink) are driven by hand here, and the
worker halves (KafkaReader, KafkaWriter) travel through pickle, cloudpickle and
a spawned process the way a runner ships them; no engine is involved.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from etlcore._fast import partition as kernel
from etlcore.batch import BatchInfo
from etlcore.clock import ManualClock
from etlcore.config import parse_config
from etlcore.errors import EtlcoreError
from etlcore.sink import SinkContext, WriterContext
from etlcore.source import ReaderContext, SourceContext
from kafka_testlib import produce_json, read_all

from etlcore_kafka.config import KafkaSinkConfig, KafkaSourceConfig
from etlcore_kafka.sink import KafkaSink, KafkaWriter
from etlcore_kafka.source import KafkaReader, KafkaSource

pytestmark = pytest.mark.services

SECRET = "hunter2-Sup3rS3cret"
PICKLERS = [pytest.param(pickle, id="pickle"), pytest.param(cloudpickle, id="cloudpickle")]


def _source(bootstrap: str, topic: str, ctx: SourceContext | None = None,
            **config: Any) -> KafkaSource:
    source = KafkaSource(parse_config(KafkaSourceConfig, {
        "bootstrap_servers": bootstrap, "topics": [topic], **config}))
    source.open(ctx or SourceContext("kafka-test", ManualClock()))
    return source


def _reader(source: KafkaSource, pickler: Any = pickle, worker: str = "driver") -> KafkaReader:
    reader = pickler.loads(pickler.dumps(source.reader()))
    reader.open(ReaderContext("kafka-test", "split-job", worker=worker))
    return reader


def _sink_config(bootstrap: str, topic: str, **config: Any) -> KafkaSinkConfig:
    return parse_config(KafkaSinkConfig, {"bootstrap_servers": bootstrap, "topic": topic,
                                          **config})


def _writer(sink: KafkaSink, pickler: Any = pickle) -> KafkaWriter:
    writer = pickler.loads(pickler.dumps(sink.writer()))
    writer.open(WriterContext("kafka", "split-job"))
    return writer


def _transactions(bootstrap: str, topic: str, txns: list[tuple[bool, list[Any]]],
                  open_values: list[Any] = ()) -> Producer:
    """Committed and aborted transactions (markers and skipped offsets), then one left open."""
    tx = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{topic}"})
    tx.init_transactions(30)
    for commit, vals in txns:
        tx.begin_transaction()
        for v in vals:
            tx.produce(topic, value=json.dumps(v))
        if commit:
            tx.commit_transaction(30)
        else:
            tx.flush(30)
            tx.abort_transaction(30)
    if open_values:
        tx.begin_transaction()
        for v in open_values:
            tx.produce(topic, value=json.dumps(v))
        tx.flush(30)
    return tx


def _read_in_child(reader_bytes: bytes, ranges: list[tuple[str, int, int]]) -> list[list[Any]]:
    """In a spawned process: unpickle the reader, open it as a worker, read each range."""
    reader = cloudpickle.loads(reader_bytes)
    reader.open(ReaderContext("kafka-test", "split-job", worker="process-child"))
    try:
        return [list(reader.read(p, s, e)) for p, s, e in ranges]
    finally:
        reader.close()


def _write_in_child(writer_bytes: bytes, batch: BatchInfo, parts: list[list[Any]]) -> list[Any]:
    writer = cloudpickle.loads(writer_bytes)
    writer.open(WriterContext("kafka", "split-job", worker="process-child"))
    return [writer.write(batch, i, records) for i, records in enumerate(parts)]


def _spawned(fn: Callable[..., Any], *args: Any) -> Any:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result(timeout=120)


@pytest.mark.parametrize("pickler", PICKLERS)
def test_reader_and_writer_pickle_as_config(kafka_bootstrap: str, topics: Callable[..., str],
                                            pickler: Any) -> None:
    """Built from config, no live client inside, and still so once opened and used."""
    topic = topics(partitions=1)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(5)])
    config = {"client_config": {"sasl.password": SECRET}, "value_only": False}
    source = _source(kafka_bootstrap, topic, **config)
    reader = _reader(source, pickler)
    assert reader.config == source.config  # secrets travel with the config (needed to connect)
    assert [r["value"]["id"] for r in reader.read(f"{topic}:0", 0, 5)] == list(range(5))
    again = pickler.loads(pickler.dumps(reader))  # an opened reader pickles as config alone
    assert vars(again).keys() == vars(source.reader()).keys() and not again._parts
    reader.close()
    source.close()

    sink = KafkaSink(_sink_config(kafka_bootstrap, topic, key_field="id",
                                  client_config={"sasl.password": SECRET}))
    shipped = pickler.dumps(sink.writer())
    assert SECRET.encode() not in shipped and len(shipped) < 400  # no client config at all
    writer = _writer(sink, pickler)
    [(key, value, h)] = writer.write(BatchInfo(0, 0.0), 0, [{"id": 7, "x": "é"}])
    assert (key, json.loads(value), h) == (b"7", {"id": 7, "x": "é"}, kernel.stable_hash(b"7"))
    assert pickle.loads(pickle.dumps(writer.write(BatchInfo(0, 0.0), 3, [{"id": 1}]))) == [
        (b"1", b'{"id":1}', kernel.stable_hash(b"1"))]  # the commit message pickles too


def test_unpickled_reader_reads_the_same_ranges(kafka_bootstrap: str,
                                                topics: Callable[..., str]) -> None:
    """Original, pickle, cloudpickle and a spawned process agree on every planned range."""
    topic = topics(partitions=2)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(40)])
    _transactions(kafka_bootstrap, topic, [(True, [100, 101]), (False, [200, 201]),
                                           (True, [102])])
    source = _source(kafka_bootstrap, topic)
    ranges = []
    for part in source.partitions():
        start = source.initial_position(part)
        while (end := source.plan(part, start, 7)) != start:
            ranges.append((part, start, end))
            start = end
    readers = [_reader(source), _reader(source, pickle, "process-1"),
               _reader(source, cloudpickle, "process-2")]
    first = [[list(r.read(*rng)) for rng in ranges] for r in readers]
    assert first[0] == first[1] == first[2]
    got = [v for part in first[0] for v in part]
    assert sorted(v if isinstance(v, int) else v["id"] for v in got) == [
        *range(40), 100, 101, 102]
    # a replay out of order (as after a crash, or on another worker) reads the same again
    assert [list(readers[0].read(*rng)) for rng in reversed(ranges)] == first[0][::-1]
    child = _spawned(_read_in_child, cloudpickle.dumps(source.reader()), ranges)
    assert child == first[0]
    for r in readers:
        r.close()
    source.close()


def test_ranges_skip_transaction_markers_and_follow_new_partitions(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """Planned ranges are exact under both isolations; partitions added later are read."""
    topic = topics(partitions=1)
    tx = _transactions(kafka_bootstrap, topic, [(True, [1, 2, 3]), (False, [4, 5]), (True, [6])],
                       open_values=[7])  # open: beyond the last stable offset

    committed = _source(kafka_bootstrap, topic, metadata_max_age=0)
    reader = _reader(committed)
    part = f"{topic}:0"
    assert committed.partitions() == [part]
    start, got = committed.initial_position(part), []
    while (end := committed.plan(part, start, 2)) != start:
        assert end - start <= 2
        got.extend(reader.read(part, start, end))
        start = end
    # offsets: 1,2,3 at 0-2, marker 3, aborted 4-5, marker 6, 6 at 7, marker 8, open 9
    assert got == [1, 2, 3, 6] and start == 9  # the last stable offset
    assert reader.read(part, 0, 9) == [1, 2, 3, 6]  # a replay of the whole range agrees
    assert reader.read(part, 3, 7) == []  # only markers and aborted records
    uncommitted = _source(kafka_bootstrap, topic, isolation="read_uncommitted")
    assert uncommitted.plan(part, 0, None) == 10
    assert _reader(uncommitted).read(part, 0, 10) == [1, 2, 3, 4, 5, 6, 7]
    tx.commit_transaction(30)

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(30)])
    parts = committed.partitions()
    assert parts == [f"{topic}:{p}" for p in range(3)]
    new = [p for p in parts if p != part]
    assert all(committed.initial_position(p) == 0 for p in new)  # appeared later: earliest
    assert sum(len(reader.read(p, 0, committed.plan(p, 0, None))) for p in parts) == 35
    latest = _source(kafka_bootstrap, topic, start="latest")  # there at open: their ends
    assert all(latest.initial_position(p) == latest.plan(p, 0, None) > 0 for p in new)
    reader.close()
    for s in (committed, uncommitted, latest):
        s.close()


def test_reader_needs_open_and_close_ends_a_waiting_read(kafka_bootstrap: str,
                                            topics: Callable[..., str]) -> None:
    topic = topics(partitions=1)
    source = _source(kafka_bootstrap, topic)
    with pytest.raises(EtlcoreError, match="before open"):
        source.reader().read(f"{topic}:0", 0, 1)
    with pytest.raises(NotImplementedError, match="reads through its reader"):
        source.read(f"{topic}:0", 0, 1)
    reader = _reader(source)
    failed: list[BaseException] = []

    def wait_for_a_range_not_there() -> None:
        try:
            reader.read(f"{topic}:0", 0, 5)
        except EtlcoreError as err:
            failed.append(err)

    waiting = threading.Thread(target=wait_for_a_range_not_there)
    waiting.start()
    time.sleep(1.0)
    reader.close()  # from another thread, as a stopping worker would
    waiting.join(10)
    assert not waiting.is_alive() and "stopped while reading" in str(failed[0])
    source.close()


def test_planner_waits_out_a_partition_unknown_after_a_restart(
        kafka_bootstrap: str, topics: Callable[..., str], caplog: pytest.LogCaptureFixture) -> None:
    """A restarted broker lists known partitions as missing for a moment: plan, don't fail."""
    topic = topics(partitions=1)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(3)])
    source = _source(kafka_bootstrap, topic)
    real, answers = source._consumer, [KafkaError._UNKNOWN_PARTITION] * 2
    refreshed: list[Any] = []

    class Restarting:
        def get_watermark_offsets(self, *args: Any, **kwargs: Any) -> Any:
            if answers:
                raise KafkaException(KafkaError(answers.pop()))
            return real.get_watermark_offsets(*args, **kwargs)

        def list_topics(self, *args: Any, **kwargs: Any) -> Any:  # the refresh asked for
            refreshed.append(args)
            return real.list_topics(*args, **kwargs)

    source._consumer = Restarting()
    with caplog.at_level(logging.WARNING, logger="etlcore.kafka"):
        assert source.plan(f"{topic}:0", 0, None) == 3
    assert "unknown to the broker (restarting?)" in caplog.text
    assert refreshed == [(topic,), (topic,)]  # each time, the cached metadata was refreshed
    answers.append(KafkaError.TOPIC_AUTHORIZATION_FAILED)  # anything else still fails at once
    with pytest.raises(KafkaException):
        source.plan(f"{topic}:0", 0, None)
    source._consumer = real
    source.close()


def test_partitioner_agrees_with_librdkafka_murmur2_random(
        kafka_bootstrap: str, topics: Callable[..., str], tmp_path: Path) -> None:
    """Same keys, same partitions: librdkafka's Java-compatible partitioner and our sink."""
    theirs, ours = topics(partitions=7), topics(partitions=7)
    keys = [f"user-{i}" for i in range(300)] + ["", "é", "a" * 33, "0", "key with spaces"]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        producer.produce(theirs, key=k.encode(), value=b"x")
    assert producer.flush(30) == 0
    placed = {m.key().decode(): m.partition() for m in read_all(kafka_bootstrap, theirs,
                                                                expect=len(keys))}
    assert len(placed) == len(keys)
    assert all(kernel.partition_for(k.encode(), 7) == p for k, p in placed.items())

    sink = KafkaSink(_sink_config(kafka_bootstrap, ours, value_format="str"))
    sink.open(SinkContext("kafka", "partitioner-test", tmp_path))
    batch = BatchInfo(0, 0.0)
    records = [(k, "x") for k in keys]
    # encoded in another process, produced by the driver
    messages = _spawned(_write_in_child, cloudpickle.dumps(sink.writer()), batch,
                        [records[:100], [], records[100:]])
    sink.commit(batch, messages)
    sink.close()
    mine = {m.key().decode(): m.partition() for m in read_all(kafka_bootstrap, ours,
                                                              expect=len(keys))}
    assert mine == placed


def test_sink_skips_replayed_batches_by_stored_batch_id(kafka_bootstrap: str,
                                                        topics: Callable[..., str],
                                                        tmp_path: Path) -> None:
    topic = topics(partitions=2)
    config = _sink_config(kafka_bootstrap, topic, value_format="str")

    def run(ckpt: Path, batches: list[int]) -> None:
        sink = KafkaSink(config)
        sink.open(SinkContext("out", "replay-job", ckpt))
        writer = _writer(sink)
        for b in batches:
            info = BatchInfo(b, float(b), replay=True)
            sink.commit(info, [writer.write(info, 0, [(f"k{b}", f"batch-{b}")]),
                               writer.write(info, 1, [])])
        sink.close()

    run(tmp_path / "a", [0, 1])
    run(tmp_path / "a", [1, 2])  # restarted job replays batch 1: already in Kafka
    assert sorted(m.value() for m in read_all(kafka_bootstrap, topic, expect=3)) == [
        b"batch-0", b"batch-1", b"batch-2"]
    run(tmp_path / "fresh", [0])  # a new checkpoint is a new run, not a replay
    assert len(read_all(kafka_bootstrap, topic, expect=4)) == 4


def test_sink_waits_out_a_commit_topic_its_broker_does_not_know_yet(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """A commit topic just created may be unknown to the broker that answers for a moment;
    librdkafka says ``_UNKNOWN_PARTITION`` at once, which failed a sink's open now and then:
    its watermarks are asked again until the topic is there (here it appears 0.5 s late)."""
    from confluent_kafka.admin import NewTopic

    sink = KafkaSink(_sink_config(kafka_bootstrap, topics()))
    late = f"w5f-late-commits-{time.monotonic_ns()}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    creating = threading.Timer(0.5, lambda: admin.create_topics([NewTopic(late, 1, 1)]))
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": late})
    try:
        creating.start()
        assert sink._commit_topic_ends(consumer, TopicPartition(late, 0)) == (0, 0)
    finally:
        creating.join()
        consumer.close()
        for fut in admin.delete_topics([late]).values():
            with contextlib.suppress(Exception):
                fut.result(30)


def test_writer_rejects_a_record_without_its_key(kafka_bootstrap: str) -> None:
    sink = KafkaSink(_sink_config(kafka_bootstrap, "t", key_field="id"))
    writer = _writer(sink)
    with pytest.raises(EtlcoreError, match="kafka sink 'kafka': key_field 'id' missing"):
        writer.write(BatchInfo(0, 0.0), 0, [{"id": 1}, {"other": 2}])
    bytes_writer = _writer(KafkaSink(_sink_config(kafka_bootstrap, "t", value_format="bytes")))
    with pytest.raises(EtlcoreError, match="value_format 'bytes' needs bytes"):
        bytes_writer.write(BatchInfo(0, 0.0), 0, ["text"])


def test_a_sink_whose_broker_work_fails_raises_at_its_first_commit(
        kafka_bootstrap: str, topics: Callable[..., str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """open() hands the broker round trips to a thread; their error is not lost: the first
    commit raises it before producing anything, and close() only logs it."""
    topic = topics()
    sink = KafkaSink(_sink_config(kafka_bootstrap, topic, value_format="str",
                                  commit_topic="no spaces allowed"))
    sink.open(SinkContext("out", "failing-open", tmp_path))  # returns before the broker answers
    writer = _writer(sink)
    info = BatchInfo(0, 0.0)
    for _ in range(2):  # and again: a failed open never lets a batch through
        with pytest.raises(KafkaException):
            sink.commit(info, [writer.write(info, 0, [("k", "v")])])
    sink.close()
    sink = KafkaSink(_sink_config(kafka_bootstrap, topic, commit_topic="no spaces allowed"))
    sink.open(SinkContext("out", "failing-open", tmp_path))
    with caplog.at_level(logging.WARNING, logger="etlcore.kafka"):
        sink.close()  # nothing committed: the error is logged, closing goes on
    assert "opening failed, nothing was written" in caplog.text
    assert read_all(kafka_bootstrap, topic, expect=0) == []


class _Counting:
    """The source's real consumer, counting the watermark requests made through it."""

    def __init__(self, consumer: Any):
        self.consumer = consumer
        self.asked = 0

    def get_watermark_offsets(self, *args: Any, **kwargs: Any) -> Any:
        self.asked += 1
        return self.consumer.get_watermark_offsets(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consumer, name)


def _here(bootstrap: str, topic: str, resume: dict[str, int] | None = None,
          **config: Any) -> KafkaSource:
    """A source opened as the local runner opens it: its readers run in this process."""
    return _source(bootstrap, topic, SourceContext("kafka-test", ManualClock(),
                                                   resume=resume or {}, readers_here=True),
                   **config)


@pytest.mark.parametrize("checkpointed", [False, True], ids=["new-job", "checkpointed"])
def test_readers_made_here_start_their_consumers_at_open(
        kafka_bootstrap: str, topics: Callable[..., str], checkpointed: bool) -> None:
    """With readers in its own process, the source starts each partition's consumer at open,
    before any plan: at the checkpoint's position, or (a new job, ``earliest``) wherever the
    log begins. The reads continue the started consumers and read what a fresh reader
    reads."""
    topic = topics(partitions=3)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(90)])
    at = 5 if checkpointed else 0
    parts = [f"{topic}:{n}" for n in range(3)]
    source = _here(kafka_bootstrap, topic, {p: at for p in parts} if checkpointed else None)
    local = source.reader()
    assert sorted(local._starting) == parts  # before any plan
    counting = source._consumer = _Counting(source._consumer)
    try:
        starts = {p: at if checkpointed else source.initial_position(p) for p in parts}
        ends = {p: source.plan(p, starts[p], 4) for p in parts}
    finally:
        source._consumer = counting.consumer
    assert starts == {p: at for p in parts} and ends == {p: at + 4 for p in parts}
    assert counting.asked == len(parts)  # the ends, once each, in parallel
    local.open(ReaderContext("kafka-test", "split-job"))
    for p in parts:
        local._started(p)
    consumers = {p: part.consumer for p, part in local._parts.items()}
    got = [local.read(p, starts[p], ends[p]) for p in parts]
    assert all(local._parts[p].consumer is consumers[p] for p in parts)  # continued
    assert all(local._parts[p].next_offset == ends[p] for p in parts)
    fresh = _reader(source)
    assert got == [fresh.read(p, starts[p], ends[p]) for p in parts] and all(got)
    fresh.close()
    local.close()
    source.close()


def test_a_log_start_consumer_reads_only_a_range_that_begins_where_the_log_does(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """A consumer started where the log begins serves a range whose start is at or before
    its first record. Where its first record comes after the planned start (here an
    aborted transaction at the log's start; or records deleted since the plan), the read
    goes to a consumer assigned at that start, which tells skipped records from lost ones
    as every other read does; a range starting past the first record is served as is."""
    topic = topics(partitions=1)
    _transactions(kafka_bootstrap, topic, [(False, [1, 2]), (True, [3, 4, 5])])
    part = f"{topic}:0"  # offsets: aborted 1, 2 at 0-1, marker 2, 3-5 at 3-5, marker 6
    source = _here(kafka_bootstrap, topic)
    reader = source.reader()
    reader.open(ReaderContext("kafka-test", "split-job"))
    reader._started(part)
    hinted = reader._parts[part].consumer
    assert reader.read(part, 0, 7) == [3, 4, 5]
    assert reader._parts[part].consumer is not hinted  # first record 3 > 0: not trusted
    again = source.reader()
    again.open(ReaderContext("kafka-test", "split-job"))
    again._started(part)
    hinted = again._parts[part].consumer
    assert again.read(part, 4, 7) == [4, 5]
    assert again._parts[part].consumer is hinted  # from 3 on covers a start of 4
    for r in (reader, again):
        r.close()
    source.close()


def test_a_latest_job_starts_no_consumer_before_its_first_plan(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """``start: latest`` needs the end, which only the plan asks, and so does an explicit
    offset (it may lie past the end): nothing is started at open for either, and a
    partition with nothing from its start on gets no consumer at the plan either."""
    topic = topics(partitions=2)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(20)])
    latest = _here(kafka_bootstrap, topic, start="latest")
    reader = latest.reader()
    parts = latest.partitions()
    assert not reader._starting
    assert [latest.initial_position(p) for p in parts] and not reader._starting
    latest.close()
    past = _here(kafka_bootstrap, topic, start={p: 1_000 for p in parts})
    far = past.reader()
    assert not far._starting
    assert [past.initial_position(p) for p in parts] == [1_000, 1_000] and not far._starting
    past.close()


def test_a_backlog_is_planned_from_a_recent_end_without_asking_again(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """While an end seen under a second ago is past the start, the plan is up to it, at most
    ``max_records`` on (no broker round trip); at it, or once it is old, the broker is
    asked again."""
    topic = topics(partitions=1)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(25)])
    source = _source(kafka_bootstrap, topic)
    part = f"{topic}:0"
    counting = source._consumer = _Counting(source._consumer)
    try:
        assert source.plan(part, 0, 10) == 10 and counting.asked == 1
        assert source.plan(part, 10, 10) == 20 and counting.asked == 1  # 25 seen covers 20
        assert source.lag(part, 20) == 5
        assert source.plan(part, 20, 10) == 25 and counting.asked == 1  # the rest of 25
        produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(25, 40)])
        assert source.plan(part, 25, 10) == 35 and counting.asked == 2  # at 25 seen: asked
        source._seen[part] = (40, time.monotonic() - 2.0)  # an end seen too long ago
        assert source.plan(part, 35, 10) == 40 and counting.asked == 3
        assert source.plan(part, 0, None) == 40 and counting.asked == 4  # no step: asked
    finally:
        source._consumer = counting.consumer
        source.close()


def test_a_reader_in_the_planners_process_starts_every_planned_partition_at_once(
        kafka_bootstrap: str, topics: Callable[..., str]) -> None:
    """A new job's first plan tells the source's own readers where each range starts (at
    the initial position, then at each plan): they start those consumers at once, before
    open, so partitions fetch side by side while the driver plans; a wrong hint only costs
    a consumer; a reader pickled for a worker hears nothing, and the source closes what an
    unopened reader started. The first plan asks each partition's watermarks once."""
    topic = topics(partitions=3)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(90)])  # ~30 a partition
    source = _source(kafka_bootstrap, topic)
    parts = source.partitions()
    local, idle, shipped = source.reader(), source.reader(), source.reader()
    copy = pickle.loads(pickle.dumps(shipped))  # a runner that ships the job pickles it
    counting = source._consumer = _Counting(source._consumer)
    starts = {p: source.initial_position(p) for p in parts}
    ends = {p: source.plan(p, starts[p], 4) for p in parts}
    source._consumer = counting.consumer
    assert starts == {p: 0 for p in parts} and ends == {p: 4 for p in parts}
    assert counting.asked == len(parts)  # in parallel, kept for the other starts and ends
    assert sorted(local._starting) == sorted(parts)  # consumers starting before open
    assert not shipped._starting and not copy._starting
    local.open(ReaderContext("kafka-test", "split-job"))
    for p in parts:
        local._started(p)
    assert sorted(local._parts) == sorted(parts)
    assert all(part.next_offset == 0 for part in local._parts.values())
    first = [local.read(p, 0, ends[p]) for p in parts]
    assert [len(f) for f in first] == [4, 4, 4]
    source.plan(parts[0], 2, 4)  # a hint for a partition it reads already changes nothing
    consumer = local._parts[parts[0]].consumer
    assert local.read(parts[0], 2, ends[parts[0]]) == first[0][2:]  # a replay: new consumer
    assert local._parts[parts[0]].consumer is not consumer
    for p in parts:
        idle._started(p)
    assert sorted(idle._parts) == sorted(parts)
    local.close()
    source.close()
    assert not idle._parts  # never opened: closed with the source

