"""The ``kafka`` sink: one Kafka transaction per batch, exactly once across crashes.

- :class:`KafkaWriter` (worker): encodes each record's key and value to bytes
  and hashes the key with murmur2; its commit message is the encoded list. It
  holds no client and no client config.
- :class:`KafkaSink` (driver): one transactional producer; ``commit`` places
  each message by ``hash % partitions`` (Java's default partitioner) and
  produces them all with a batch-id marker in one transaction.

Only the driver produces because a Kafka transaction belongs to one producer:
writers that produced themselves could not commit a batch atomically. The
producer's ``transactional.id`` is stable per (job, sink), so a restarted
job's ``init_transactions()`` aborts whatever its crashed predecessor left open
and fences any zombie still running. Each batch's records and the batch id are
committed in the same transaction: a marker record keyed by the transactional id
goes to a compacted commit topic. On open the sink reads its last marker back
(read_committed), and a replayed batch at or below it is skipped, so a
read_committed consumer sees every output record exactly once. (A marker
record rather than ``send_offsets_to_transaction``: librdkafka 2.16's
``send_offsets_to_transaction`` can hang for good after a broker restart,
librdkafka issue #5511, and it needs no group coordinator.)

The id is paired with the checkpoint's *epoch* (``ctx.epoch``, a sealed file in
the checkpoint directory), so a job started from a fresh checkpoint (batch ids
from 0 again) is not mistaken for a replay of the old run.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from etlcore._fast import partition as kernel
from etlcore.batch import BatchInfo
from etlcore.errors import CheckpointError, EtlcoreError
from etlcore.sink import Sink, SinkContext, SinkWriter, WriterContext

from etlcore_kafka._client import (
    KafkaException,
    build,
    client_conf,
    confluent_kafka,
    retry,
    scrub,
    watermarks,
)
from etlcore_kafka.config import KafkaSinkConfig

log = logging.getLogger("etlcore.kafka")

_METADATA_MAX_AGE = 30.0  # seconds a topic's partition count is trusted
_PRODUCER_ONLY = frozenset({"transactional.id", "enable.idempotence", "acks", "linger.ms",
                            "transaction.timeout.ms", "message.timeout.ms"})
_UNKNOWN_WAIT = 0.1  # seconds between asks for a just-created commit topic's watermarks
_MARKER_WINDOW = 1000  # commit-topic records read per step when looking for the last marker
_Encoded = tuple[bytes | None, bytes | None, int]  # key, value, key hash (-1: no key)


class KafkaSink(Sink):
    """Writes each batch in one transaction, keyed and placed like Java's default partitioner."""

    plan_before_write = False  # writers only encode; the driver produces at commit

    def __init__(self, config: KafkaSinkConfig):
        self.config = config
        self.name = "kafka"
        self._conf: dict[str, Any] = {}
        self._producer: Any = None
        self._txn_id = ""
        self._commit_topic = config.commit_topic or f"{config.topic}.etlcore-commits"
        self._last: int | None = None  # last batch id committed under this epoch
        self._epoch = uuid.uuid4().hex
        self._group = ""
        self._partitions = 0
        self._partitions_at = float("-inf")
        self._ready: _Background | None = None  # open()'s broker work, running

    def __repr__(self) -> str:
        return f"KafkaSink({self.config!r})"

    # -- lifecycle ------------------------------------------------------------
    def open(self, ctx: SinkContext) -> None:
        c = self.config
        self.name = ctx.name
        txn_id = c.transactional_id or f"etlcore.{ctx.job_name}.{ctx.name}"
        self._txn_id = txn_id
        self._group = f"{txn_id}.reader"
        if ctx.checkpoint_dir is not None:
            self._epoch = sink_epoch(ctx)
        where = f"sink '{ctx.name}'"
        fixed = {
            "transactional.id": txn_id,
            "enable.idempotence": True,
            "acks": "all",
            "transaction.timeout.ms": int(c.transaction_timeout * 1000),
        }
        self._conf = client_conf(c.bootstrap_servers, c.client_config, fixed, where)
        self._conf.setdefault("linger.ms", 5)
        self._conf.setdefault("message.timeout.ms", int(c.transaction_timeout * 1000))
        self._producer = build(confluent_kafka.Producer, self._conf, where)
        # The broker round trips (45-70 ms: create the commit topic, init_transactions, read
        # the last marker) overlap the first batches' reads; commit() waits for them
        # (W5, 200k records: 300-379 ms -> 255-287 ms a job, interleaved).
        self._ready = _Background(self._connect, f"kafka-sink-{ctx.name}")

    def _connect(self) -> None:
        """Everything open() needs from the broker; done before the first transaction."""
        self._ensure_commit_topic()
        self._broker_up()
        # fences zombies and aborts a transaction the crashed predecessor left open
        self._retry(lambda: self._producer.init_transactions(self.config.request_timeout),
                    "initialising transactions")
        self._last = self._read_last_batch()
        self._partition_count()
        log.info("kafka sink '%s': transactional.id %r, last committed batch %s", self.name,
                 self._txn_id, self._last)

    def _broker_up(self) -> None:
        """Have a broker the cluster named answer us before ``init_transactions``.

        librdkafka drops the bootstrap connection once metadata names the brokers; a
        coordinator lookup made before a named broker is connected finds none and
        waits for its 500 ms retry timer. That stalled ``init_transactions`` 500 ms in
        3 of 8 starts here (0 of 14 after asking metadata until a named broker answered).
        """
        for _ in range(3):
            md = self._retry(lambda: self._producer.list_topics(
                self.config.topic, self.config.request_timeout), "reading topic metadata")
            if md.orig_broker_id >= 0:  # -1: the bootstrap address answered
                return

    def close(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:  # no batch was committed: open's work may still be running
            try:
                ready.wait()
            except Exception as err:  # noqa: BLE001 - nothing was written; say so, go on closing
                log.warning("kafka sink '%s': opening failed, nothing was written: %s",
                            self.name, scrub(str(err), self._conf))
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(self.config.request_timeout)

    def writer(self) -> KafkaWriter:
        c = self.config
        return KafkaWriter(c.key_field, c.key_format, c.value_format)

    def commit(self, batch: BatchInfo, messages: list[list[_Encoded] | None]) -> None:
        """Produce the batch and its id in one transaction; skip a batch already there.

        Nothing reaches Kafka before this, so ``abort`` has nothing to drop.
        """
        if self._ready is not None:
            self._ready.wait()  # open's broker work: fenced, last marker read
            self._ready = None
        if self._last is not None and batch.batch_id <= self._last:
            log.info("kafka sink '%s': batch %d already committed, skipping its replay",
                     self.name, batch.batch_id)
            return
        if not any(messages):
            return  # nothing to make visible; a replay of it produces nothing either
        delay = 0.25
        while True:
            try:
                self._transaction(batch, messages)
                break
            except KafkaException as err:
                kerr = err.args[0]
                if kerr.fatal():
                    raise EtlcoreError(f"kafka sink '{self.name}': {scrub(str(err), self._conf)}"
                                       " (another copy of this job took over?)") from None
                if not kerr.txn_requires_abort():
                    raise
                log.warning("kafka sink '%s': batch %d transaction failed (%s); aborting it and "
                            "retrying in %.1fs", self.name, batch.batch_id,
                            scrub(str(err), self._conf), delay)
                self._retry(lambda: self._producer.abort_transaction(
                    self.config.request_timeout), "aborting a failed transaction")
                time.sleep(delay)
                delay = min(5.0, delay * 2)
        self._last = batch.batch_id

    def _transaction(self, batch: BatchInfo, messages: list[list[_Encoded] | None]) -> None:
        """begin, produce, store the batch id, commit; transient errors retry the same step."""
        producer = self._producer
        topic = self.config.topic
        timeout = self.config.request_timeout
        n = self._partition_count()
        producer.begin_transaction()
        for message in messages:
            for key, value, h in message or ():
                part = -1 if h < 0 else h % n
                while True:
                    try:
                        producer.produce(topic, value=value, key=key, partition=part)
                        break
                    except BufferError:  # local queue full: let deliveries drain
                        producer.poll(0.05)
        marker = json.dumps({"batch": batch.batch_id, "epoch": self._epoch}).encode()
        producer.produce(self._commit_topic, key=self._txn_id.encode(), value=marker, partition=0)
        # commit flushes; during a broker outage it raises retriable errors: wait it out
        self._retry(lambda: producer.commit_transaction(timeout),
                    f"committing batch {batch.batch_id}")

    # -- helpers ----------------------------------------------------------------------
    def _read_last_batch(self) -> int | None:
        """This sink's last marker in the commit topic, if it is this epoch's.

        Reads backwards from the end in windows, so a long commit topic is not
        scanned whole; compaction keeps it short over time.
        """
        conf = {k: v for k, v in self._conf.items() if k not in _PRODUCER_ONLY}
        conf.update({"group.id": self._group, "enable.auto.commit": False,
                     "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
        tp = confluent_kafka.TopicPartition(self._commit_topic, 0)
        key = self._txn_id.encode()
        consumer = build(confluent_kafka.Consumer, conf, f"sink '{self.name}'")
        try:
            low, high = self._commit_topic_ends(consumer, tp)
        finally:
            consumer.close()
        while high > low:
            start = max(low, high - _MARKER_WINDOW)
            found = None
            # a fresh consumer per window: a re-assigned one reports its old position
            consumer = build(confluent_kafka.Consumer, conf, f"sink '{self.name}'")
            try:
                for msg in _read_range(consumer, self._commit_topic, start, high):
                    if msg.key() == key:
                        found = msg.value()
            finally:
                consumer.close()
            if found is not None:
                stored = json.loads(found)
                if stored.get("epoch") != self._epoch:
                    return None  # written by a run with another checkpoint
                return int(stored["batch"])
            high = start
        return None

    def _commit_topic_ends(self, consumer: Any, tp: Any) -> tuple[int, int]:
        """The commit topic's low and high watermarks. A topic just created may be unknown
        to the broker that answers for a moment (the controller has it, the broker's
        metadata not yet): librdkafka then says ``_UNKNOWN_PARTITION`` at once, which
        failed a first open now and then (seen in ``plugins/kafka/tests``); it is waited
        out, up to ``request_timeout``, since :meth:`_ensure_commit_topic` saw the topic."""
        return watermarks(consumer, tp, self._retry, "reading the commit topic",
                          self.config.request_timeout, self.config.request_timeout,
                          _UNKNOWN_WAIT)

    def _ensure_commit_topic(self) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        conf = {k: v for k, v in self._conf.items() if k not in _PRODUCER_ONLY}
        admin = AdminClient(conf)
        topic = NewTopic(self._commit_topic, 1, 1, config={"cleanup.policy": "compact"})
        future = admin.create_topics([topic], request_timeout=self.config.request_timeout)
        try:
            self._retry(lambda: future[self._commit_topic].result(), "creating the commit topic")
        except confluent_kafka.KafkaException as err:
            if err.args[0].code() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _partition_count(self) -> int:
        now = time.monotonic()
        if now - self._partitions_at < _METADATA_MAX_AGE:
            return self._partitions
        topic = self.config.topic
        md = self._retry(lambda: self._producer.list_topics(topic, self.config.request_timeout),
                         "reading topic metadata").topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            if self._partitions:
                return self._partitions
            raise EtlcoreError(f"kafka sink '{self.name}': config key 'topic': topic {topic!r} "
                               f"is not available ({md.error if md else 'not found'})")
        self._partitions = len(md.partitions)
        self._partitions_at = now
        return self._partitions

    def _retry(self, fn: Any, what: str) -> Any:
        return retry(fn, f"kafka sink '{self.name}': {what}", None, self._conf)


class KafkaWriter(SinkWriter):
    """Encodes a partition's records (worker side); a bad record fails the batch before any send."""

    def __init__(self, key_field: str | None, key_format: str, value_format: str):
        self.key_field = key_field
        self.key_format = key_format
        self.value_format = value_format
        self.name = "kafka"

    def open(self, ctx: WriterContext) -> None:
        self.name = ctx.name

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> list[_Encoded]:
        return [self._encode(r) for r in records]

    def _encode(self, record: Any) -> _Encoded:
        if self.key_field is not None:
            if not isinstance(record, dict) or self.key_field not in record:
                raise EtlcoreError(f"kafka sink '{self.name}': key_field {self.key_field!r} "
                                   f"missing from a {type(record).__name__} record: "
                                   f"{_show(record)}")
            key, value = record[self.key_field], record
        elif isinstance(record, tuple) and len(record) == 2:
            key, value = record
        else:
            key, value = None, record
        key_bytes = _encode(key, self.key_format, self.name, "key")
        h = -1 if key_bytes is None else kernel.stable_hash(key_bytes)  # toPositive(murmur2)
        return key_bytes, _encode(value, self.value_format, self.name, "value"), h


class _Background:
    """A function run on its own thread; ``wait`` returns when it is done, raising its error."""

    def __init__(self, fn: Any, name: str):
        self._error: BaseException | None = None
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._fn()
        except BaseException as err:  # noqa: BLE001 - handed to the waiter
            self._error = err

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _show(record: Any, limit: int = 200) -> str:
    """A record's repr for an error message, cut short: the message must name the record,
    not carry a whole document."""
    text = repr(record)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


_JSON = json.JSONEncoder(separators=(",", ":"), default=str)  # made once, not per record


def _json(value: Any) -> bytes:
    """``json.dumps(value, separators=(",", ":"), default=str)``, byte for byte, without
    building an encoder per call (a windowed count's rows: ~3 us -> ~0.4 us each); an int
    or a str, what aggregates and keys mostly are, skip the encoder altogether."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value).encode()
    if kind is str:
        return encode_basestring_ascii(value).encode()
    return _JSON.encode(value).encode()


def _encode(value: Any, fmt: str, sink: str, what: str) -> bytes | None:
    """A key or value as bytes: json dumps anything, str encodes, bytes passes through."""
    if value is None:
        return None
    if fmt == "json":
        return _json(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if fmt == "bytes":
        raise EtlcoreError(f"kafka sink '{sink}': {what}_format 'bytes' needs bytes, got a "
                           f"{type(value).__name__}: {_show(value)}")
    return str(value).encode()


def _read_range(consumer: Any, topic: str, start: int, end: int) -> list[Any]:
    """Messages of partition 0 in ``[start, end)`` (read_committed: markers are skipped)."""
    tp = confluent_kafka.TopicPartition(topic, 0, start)
    consumer.assign([tp])
    out: list[Any] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for msg in consumer.consume(min(end - start, 1000), 0.2):
            if msg.error() is None and start <= msg.offset() < end:
                out.append(msg)
                if msg.offset() >= end - 1:
                    return out
        if consumer.position([tp])[0].offset >= end:
            return out
    raise EtlcoreError(f"kafka sink: could not read {topic} [{start}, {end}) within 60s")


def sink_epoch(ctx: SinkContext) -> str:
    """The checkpoint's epoch (``ctx.epoch``, sealed and shared by its sinks).

    A checkpoint from before ``ctx.epoch`` keeps the epoch this sink wrote to
    ``sinks/<name>/kafka-epoch`` then, so its commit markers still match and a
    replay is still skipped; a damaged one is refused rather than taken for
    another epoch (which would commit replayed batches again).
    """
    legacy = Path(ctx.checkpoint_dir or ".") / "sinks" / ctx.name / "kafka-epoch"
    if legacy.exists():
        epoch = legacy.read_text(errors="replace").strip()
        if not re.fullmatch(r"[0-9a-f]{32}", epoch):
            raise CheckpointError(f"corrupt checkpoint file {legacy}: not a sink epoch "
                                  f"(got {epoch[:40]!r})")
        return epoch
    epoch = ctx.epoch
    assert epoch is not None  # a checkpoint directory has one
    return epoch
