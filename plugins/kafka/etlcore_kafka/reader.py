"""The worker half of the ``kafka`` source: :class:`KafkaReader` reads planned offset ranges.

It pickles as its config alone and opens its own consumer per partition, kept
across batches so the next range continues from what was prefetched; it reads
exactly the planned range ``[start, end)`` and decodes it (JSON in bulk with
:meth:`etlcore.jsondecode.JsonDecoder.decode_many`; undecodable messages become
dead letters). The driver half, which plans the ranges, is
:mod:`etlcore_kafka.source`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from etlcore.errors import EtlcoreError
from etlcore.jsondecode import JsonDecodeError, JsonDecoder
from etlcore.jsonproject import ProjectedJson
from etlcore.source import Position, ReaderContext, Rejected, SourceReader

from etlcore_kafka._client import KafkaError, build, client_conf, confluent_kafka, scrub
from etlcore_kafka.config import KafkaSourceConfig, split_partition

__all__ = ["KafkaReader", "consumer_conf"]

_JSON = JsonDecoder()  # untyped keys and values: any JSON, integers of any size
_VALUE, _ERROR, _OFFSET = (confluent_kafka.Message.value, confluent_kafka.Message.error,
                           confluent_kafka.Message.offset)  # C methods, for map()
_CLOSE = confluent_kafka.Consumer.close
LOG_START = confluent_kafka.OFFSET_BEGINNING  # a start for prepare(): "wherever the log begins"
log = logging.getLogger("etlcore.kafka")

_FETCH = 10_000  # messages per consume() call: large calls amortise the C boundary
_FIRST_METADATA = 1.0  # seconds a new consumer waits for its topic's metadata, at most
_REFRESH_AFTER = 5.0  # seconds without progress before a partition's consumer is replaced
_STALL_WARN = 30.0  # seconds without progress before a read warns (the range exists)


def consumer_conf(c: KafkaSourceConfig, name: str) -> dict[str, Any]:
    """The librdkafka settings of the driver's and the readers' consumers (both halves)."""
    fixed = {
        "group.id": c.group_id or f"etlcore-reader-{name}",  # only the driver commits to it
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",  # a planned offset that is gone is data loss
        "isolation.level": c.isolation,
        "enable.partition.eof": False,
    }
    conf = client_conf(c.bootstrap_servers, c.client_config, fixed, f"source '{name}'")
    conf.setdefault("fetch.wait.max.ms", 100)  # a long poll delays re-assignment
    conf.setdefault("queued.max.messages.kbytes", 16384)  # prefetch per partition
    # A partition whose prefetch queue is full is not fetched again for this long; the
    # default 1000 ms left a reader catching up on a backlog with an empty queue for up to
    # a second at a time (W5, 1M records, 4 interleaved pairs: 2.48 s -> 0.92 s a job)
    conf.setdefault("fetch.queue.backoff.ms", 10)
    # librdkafka connects "sparsely": once the bootstrap answer names the brokers it drops
    # the bootstrap connection, and a request still waiting on it (the partition listing
    # at open, a reader's topic metadata) is sent again only after the sparse-connect
    # pause (reconnect.backoff.ms / 2, at least 11 ms). Connecting to the named brokers at
    # once took that pause off the job's start twice over (the driver lists, then each
    # reader; W5 200k, 12 interleaved jobs: 183 -> 167 ms median). The driver's consumer
    # asks every partition's leader for watermarks anyway; a reader's consumer connects
    # to each broker of the cluster, not only its partition's leader.
    conf.setdefault("enable.sparse.connections", False)
    return conf

class KafkaReader(SourceReader):
    """Reads planned offset ranges (worker side); pickles as its config (and pruned fields)."""

    def __init__(self, config: KafkaSourceConfig, fields: frozenset[str] | None = None):
        self.config = config
        self.name = "kafka"
        self._conf: dict[str, Any] = {}
        self._parts: dict[str, _Partition] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()  # close() from another thread ends a waiting read
        self._engine_stop = threading.Event()  # the engine's hard stop (ReaderContext)
        self._shipped = False  # pickled: its copies read elsewhere, so hints start nothing here
        self._opened = False
        self._starting: dict[str, Future[Any]] = {}  # partition -> its consumer, being started
        self._pool: ThreadPoolExecutor | None = None  # starts hinted consumers side by side
        self._values: JsonDecoder | ProjectedJson = (
            config.value_decoder() if config.value_schema is not None else _JSON)
        self._fields: frozenset[str] | None = None
        if fields:
            self.prune_fields(fields)

    def __reduce__(self) -> tuple[Any, ...]:
        # A runner that ships the job (processes, spark) pickles it before the first plan:
        # the reader left here then reads nothing and must not start consumers on hints
        self._shipped = True
        return KafkaReader, (self.config, self._fields)

    def prune_fields(self, fields: frozenset[str]) -> None:
        """Untyped JSON values of which the job reads only ``fields``: an object that has
        them all is built as just those (:class:`~etlcore.jsonproject.ProjectedJson`;
        W5's untyped decode of 200k four-field values ~50-90 ms -> ~30 ms). A typed
        source keeps its schema (it validates fields the job may not read) and an
        envelope source (``value_only: false``) its records."""
        c = self.config
        if c.value_only and c.value_format == "json" and c.value_schema is None:
            self._fields = frozenset(fields)
            self._values = ProjectedJson(self._fields, _JSON)

    def __repr__(self) -> str:
        return f"KafkaReader({self.config!r})"

    def open(self, ctx: ReaderContext) -> None:
        self.name = ctx.name
        self._conf = consumer_conf(self.config, ctx.name)  # consumers started on hints stay
        self._stop.clear()
        self._engine_stop = ctx.stop_event
        self._opened = True

    def close_unopened(self) -> None:
        """Close consumers started on hints by a reader that was never opened (its job ended
        before its first task); the source calls it when it closes."""
        if not self._opened:
            self.close()

    def prepare(self, partition: str, start: int) -> None:
        """The planning source's word that a read of ``partition`` will start at ``start``.

        Only a reader in the planner's own process hears it (one shipped to a worker
        pickles as its config, and the original then ignores hints). A partition this
        reader has no consumer for gets one started on a thread, assigned at ``start``
        (its read waits for it): on the local runner a batch's tasks read the
        partitions one after the other, so the first batch started each consumer only
        when the one before had its records (60-120 ms each); now they all start and
        fetch at once. Before ``open`` too: the engine opens a reader at its first
        task, after the first plan, and a job's first records came ~110-230 ms after
        its consumers started (connect, metadata, a 1 MB first fetch of each
        partition parsed), so starting them as the first plan is made, not when its
        tasks run, takes the planning off that wait. The consumer's settings are
        then made with the source's name, which ``open`` gives again. A hint that
        turns out wrong costs a consumer: the read starts a new one at its own start.
        """
        if (self._shipped or partition in self._parts or partition in self._starting
                or self._stopping()):
            return
        if not self._conf:  # before open: KafkaSource.reader() named it as open will
            self._conf = consumer_conf(self.config, self.name)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kafka-start")
        self._starting[partition] = self._pool.submit(self._start, partition, start)

    def _start(self, partition: str, start: int) -> None:
        """A hinted partition's consumer, on the pool: each start waits ~15 ms for its topic's
        metadata, so three started in line held the first batch's first read back ~45 ms."""
        with contextlib.suppress(confluent_kafka.KafkaException):  # the read retries it
            self._fresh(partition, start).next_offset = start

    def _started(self, partition: str) -> None:
        """Wait for a consumer :meth:`prepare` is starting for ``partition``, if any."""
        starting = self._starting.pop(partition, None)
        if starting is not None:
            with contextlib.suppress(Exception):  # a failed start: the read starts its own
                starting.result()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._engine_stop.is_set()

    def close(self) -> None:
        self._stop.set()
        pool, self._pool = self._pool, None
        if pool is not None:  # consumers still starting are closed below with the others
            pool.shutdown(wait=True)
        self._starting.clear()
        with self._lock:
            parts, self._parts = self._parts, {}
        consumers = [part.consumer for part in parts.values()]
        if len(consumers) > 1:  # side by side: each waits for its client's threads to end
            with ThreadPoolExecutor(len(consumers), thread_name_prefix="kafka-close") as closing:
                list(closing.map(_CLOSE, consumers))  # raises the first error, after all closed
        elif consumers:
            consumers[0].close()

    def read(self, partition: str, start: Position, end: Position) -> list[Any]:
        """Exactly the records at offsets ``[start, end)``, decoded."""
        if not self._conf:
            raise EtlcoreError(f"kafka source '{self.name}': reader used before open()")
        try:
            out: list[Any] = []
            for chunk in self._fetch(partition, int(start), int(end)):
                out.extend(self._decode_chunk(chunk))
            return out
        except RuntimeError:  # "Consumer closed": close() ran on another thread mid-read
            if not self._stopping():
                raise
            raise EtlcoreError(f"kafka source '{self.name}': stopped while reading "
                               f"{partition} [{start}, {end})") from None

    def _fresh(self, partition: str, offset: int) -> _Partition:
        """A new consumer assigned at ``offset`` (a re-assigned one reports its old position)."""
        with self._lock:
            old = self._parts.pop(partition, None)
            consumer = build(confluent_kafka.Consumer, self._conf, f"source '{self.name}'")
            part = self._parts[partition] = _Partition(consumer)
        if old is not None:
            old.consumer.close()
        topic, number = split_partition(partition)
        # Ask for the topic's metadata first: a consumer assigned a partition of a topic it
        # has no metadata for waits for librdkafka's 1 s topic scan to ask, so its first
        # fetch stalled 0.5-1 s in about one start in four (1-2 ms asked up front).
        # Bounded: during an outage the fetch loop, not this, waits and reconnects.
        with contextlib.suppress(confluent_kafka.KafkaException):  # the fetch then waits
            consumer.list_topics(topic, timeout=min(self.config.request_timeout, _FIRST_METADATA))
        consumer.assign([confluent_kafka.TopicPartition(topic, number, offset)])
        return part

    def _fetch(self, partition: str, start: int, end: int) -> Iterator[list[Any]]:
        """Raw messages of the range, as the lists consume() returned, cut to the range;
        stops at offset end-1 or when the position reaches end.

        Each partition keeps its own assigned consumer, so the next batch's
        range continues from what was prefetched (Spark caches consumers per
        partition for the same reason); a range that does not continue the
        last one (a replay, another worker's turn) starts a consumer at
        ``start``. Transaction markers and aborted records occupy offsets but
        are never delivered under read_committed, so the last offset of a range
        may never arrive: the consumer position, which moves past them, ends the read.
        A consumed list is checked and cut with C calls (``map``, ``bisect``):
        a partition's messages arrive in offset order.

        A consumer hinted to start where the log begins (a new job's ``earliest``, before
        any plan knew the offset) serves a range only if its first message is at or
        before ``start``; anything else (the log began past ``start``: retention, or an
        aborted transaction there) is read by a consumer assigned at ``start``, which
        tells data loss from skipped records as any other read does.
        """
        self._started(partition)
        part = self._parts.get(partition)
        if part is None or part.next_offset not in (start, LOG_START):
            part = self._fresh(partition, start)
        unsure = part.next_offset == LOG_START
        tp = confluent_kafka.TopicPartition(*split_partition(partition))
        part.next_offset = None  # unknown until this read completes
        msgs, part.leftover = part.leftover, []
        refreshes = 0
        last_progress = time.monotonic()
        warned = 0.0
        expected = start
        while True:
            if msgs:
                last_progress = time.monotonic()
                errors = list(map(_ERROR, msgs))
                # any(): a KafkaError is truthy, and comparing one with None raises (so
                # errors.count(None) turned a consumed error into a SystemError)
                if any(errors):
                    for err in errors:
                        if err is not None:
                            self._fetch_error(err, partition, start, end)
                    msgs = [m for m, e in zip(msgs, errors, strict=True) if e is None]
            if msgs and unsure:
                unsure = False
                if msgs[0].offset() > start:
                    part, msgs = self._fresh(partition, start), []
            if msgs:
                if msgs[0].offset() < start:
                    msgs = msgs[bisect_left(msgs, start, key=_OFFSET):]
                if msgs and msgs[-1].offset() >= end - 1:
                    cut = bisect_left(msgs, end, key=_OFFSET)
                    part.leftover = msgs[cut:]
                    part.next_offset = end
                    if cut:
                        yield msgs[:cut]
                    return
                if msgs:
                    expected = msgs[-1].offset() + 1
                    yield msgs
            position = part.consumer.position([tp])[0].offset
            if position >= end and unsure:  # past the range with no record seen: ask exactly
                part, unsure = self._fresh(partition, start), False
                position = start
            if position >= end:
                part.next_offset = end
                return
            if self._stopping():
                raise EtlcoreError(f"kafka source '{self.name}': stopped while reading "
                                   f"{partition} [{start}, {end})")
            stalled = time.monotonic() - last_progress
            if stalled > _REFRESH_AFTER * (refreshes + 1):
                # the range exists (it was planned), so a silent consumer is wedged, e.g.
                # on leader validation after a broker restart: start over from `expected`
                log.warning("kafka source '%s': %s silent for %.0fs at offset %d; reconnecting",
                            self.name, partition, stalled, expected)
                refreshes += 1
                part = self._fresh(partition, expected)
            if stalled - warned > _STALL_WARN:
                warned = stalled
                log.warning("kafka source '%s': no data from %s for %.0fs at offset %s (range "
                            "[%d, %d)); still waiting", self.name, partition, stalled, position,
                            start, end)
            # consume() waits until it has the count asked for: ask for no more than is left
            msgs = part.consumer.consume(max(1, min(_FETCH, end - expected)), 0.2)

    def _fetch_error(self, err: Any, partition: str, start: int, end: int) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
            raise EtlcoreError(
                f"kafka source '{self.name}': planned offsets [{start}, {end}) of {partition} "
                "are no longer on the broker (deleted by retention?): data loss; start the job "
                "from a new checkpoint or a later 'start' offset")
        if err.fatal():
            raise EtlcoreError(f"kafka source '{self.name}': {scrub(err.str(), self._conf)}")
        log.warning("kafka source '%s': reading %s: %s; retrying", self.name, partition,
                    scrub(err.str(), self._conf))

    def _decode_chunk(self, msgs: list[Any]) -> list[Any]:
        """One consumed list of messages as records.

        ``value_only`` (the hot path) takes the values with one ``map`` over the
        C method and decodes JSON with one :meth:`JsonDecoder.decode_many` per
        list: no Python call per message. A list with a failure (or a null
        value, a tombstone) is decoded message by message instead.
        """
        c = self.config
        if c.value_only:
            values = list(map(_VALUE, msgs))
            fmt = c.value_format
            if fmt == "bytes":
                return values
            if fmt == "json":
                decoded, failed = self._values.decode_many(values)
                if not failed:
                    return decoded
            out: list[Any] = []
            for msg, raw in zip(msgs, values, strict=True):
                try:
                    out.append(_decode(raw, fmt, self._values))
                except ValueError as err:
                    out.append(_rejected(msg, err))
            return out
        out = []
        for msg in msgs:
            try:
                value = _decode(msg.value(), c.value_format, self._values)
                key = _decode(msg.key(), c.key_format)
            except ValueError as err:
                out.append(_rejected(msg, err))
                continue
            ts_type, ts = msg.timestamp()
            out.append({
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key,
                "value": value,
                "headers": list(msg.headers() or ()),
                "timestamp": ts if ts_type != confluent_kafka.TIMESTAMP_NOT_AVAILABLE else None,
            })
        return out


class _Partition:
    """One partition's consumer, where its last read ended, and what it fetched beyond."""

    def __init__(self, consumer: Any):
        self.consumer = consumer
        self.next_offset: int | None = None
        self.leftover: list[Any] = []


def _decode(raw: bytes | None, fmt: str, decoder: JsonDecoder | ProjectedJson = _JSON) -> Any:
    """bytes -> value by format; raises ValueError for undecodable JSON or UTF-8."""
    if fmt == "json" and raw is not None:
        return decoder.decode(raw)
    if raw is None or fmt == "bytes":
        return raw
    return raw.decode("utf-8", "replace")


def _rejected(msg: Any, err: ValueError) -> Rejected:
    reason = err.reason if isinstance(err, JsonDecodeError) else f"invalid JSON: {err}"
    return Rejected(msg.value(), reason,
                    f"partition {msg.topic()}:{msg.partition()}, offset {msg.offset()}")
