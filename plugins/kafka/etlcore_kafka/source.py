"""The ``kafka`` source: Spark's direct approach over explicit offset ranges.

- :class:`KafkaSource` (driver): lists partitions, plans each batch's offset
  range and commits processed offsets to ``group_id``; its one consumer only
  reads metadata and watermarks.
- :class:`KafkaReader` (worker): picklable (config only); opens its own consumer
  per partition and reads exactly the planned range.

Partitions are ``"topic:partition"`` and positions are offsets. The driver
plans each batch from the partition's end (the last stable offset under
read_committed, the high watermark otherwise), bounded by ``max_records``, and
the engine logs that range before a reader fetches it. Nothing is
auto-committed: the checkpoint, not a consumer group, owns progress.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from etlcore.errors import EtlcoreError
from etlcore.jsondecode import JsonDecodeError, JsonDecoder
from etlcore.source import Position, ReaderContext, Rejected, Source, SourceContext, SourceReader

from etlcore_kafka._client import (
    KafkaError,
    build,
    client_conf,
    confluent_kafka,
    retry,
    scrub,
)
from etlcore_kafka.config import KafkaSourceConfig, split_partition

_JSON = JsonDecoder()  # untyped keys and values: any JSON, integers of any size
_VALUE, _ERROR, _OFFSET = (confluent_kafka.Message.value, confluent_kafka.Message.error,
                           confluent_kafka.Message.offset)  # C methods, for map()
log = logging.getLogger("etlcore.kafka")

_ENDS_FRESH = 0.5  # seconds an end asked for with another partition's is used for its plan
_SEEN_FRESH = 1.0  # seconds an end that covers a whole max_records step is planned from
_LIST_EACH = 8  # up to this many topics, metadata is asked for topic by topic
_FETCH = 10_000  # messages per consume() call: large calls amortise the C boundary
_FIRST_METADATA = 1.0  # seconds a new consumer waits for its topic's metadata, at most
_REFRESH_AFTER = 5.0  # seconds without progress before a partition's consumer is replaced
_STALL_WARN = 30.0  # seconds without progress before a read warns (the range exists)
_UNKNOWN_GRACE = 60.0  # seconds a listed partition may be missing from a restarted broker

OFFSET_END, OFFSET_BEGINNING = -1, -2


def _consumer_conf(c: KafkaSourceConfig, name: str) -> dict[str, Any]:
    """The librdkafka settings of the driver's and the readers' consumers."""
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
    return conf


class KafkaSource(Source):
    """Plans offset ranges of every partition of ``topics`` (driver side)."""

    replayable = True

    def __init__(self, config: KafkaSourceConfig):
        self.config = config
        self.name = "kafka"
        self._stop = threading.Event()  # the engine's hard stop, once open
        self._conf: dict[str, Any] = {}
        self._consumer: Any = None  # metadata, watermarks and group commits
        self._listing: list[str] = []
        self._listed_at = float("-inf")
        self._at_open: set[str] = set()
        self._warned_missing: set[str] = set()
        self._high: dict[str, int] = {}  # partition -> high watermark at its last plan
        self._ends: dict[str, tuple[int, float]] = {}  # partition -> (end, when asked)
        self._seen: dict[str, tuple[int, float]] = {}  # partition -> (end planned, when)
        self._pool: ThreadPoolExecutor | None = None
        self._readers: weakref.WeakSet[KafkaReader] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"KafkaSource({self.config!r})"

    def open(self, ctx: SourceContext) -> None:
        self.name = ctx.name
        self._stop = ctx.stop_event
        self._conf = _consumer_conf(self.config, ctx.name)
        self._consumer = build(confluent_kafka.Consumer, self._conf, f"source '{ctx.name}'")
        self._at_open = set(self.partitions())

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if consumer is not None:
            consumer.close()

    def reader(self) -> KafkaReader:
        reader = KafkaReader(self.config)
        self._readers.add(reader)  # hinted by plan() if it reads in this process
        return reader

    def partitions(self) -> list[str]:
        """Every partition of the topics, re-listed once the cached listing is stale."""
        now = time.monotonic()
        if now - self._listed_at < self.config.metadata_max_age and self._listing:
            return list(self._listing)
        found: list[str] = []
        for topic, md in self._metadata().items():
            if md is None or md.error is not None or not md.partitions:
                if topic not in self._warned_missing:
                    self._warned_missing.add(topic)
                    reason = md.error if md is not None else "not found"
                    log.warning("kafka source '%s': topic %r unavailable (%s); waiting for it",
                                self.name, topic, reason)
                continue
            self._warned_missing.discard(topic)
            found.extend(f"{topic}:{p}" for p in sorted(md.partitions))
        # never drop a partition we knew: a listing during a broker restart can be partial
        known = set(found)
        found.extend(p for p in self._listing if p not in known)
        self._listing = sorted(found, key=split_partition)
        self._listed_at = now
        return list(self._listing)

    def _metadata(self) -> dict[str, Any]:
        """Topic metadata of our topics only: a shared cluster holds hundreds of others, and
        listing them all costs ~30x a one-topic request (45 ms against 1.4 ms here)."""
        timeout = self.config.request_timeout
        topics = self.config.topics
        if len(topics) > _LIST_EACH:
            everything = self._retry(lambda: self._consumer.list_topics(timeout=timeout),
                                     "listing topics").topics
            return {t: everything.get(t) for t in topics}
        return {t: self._retry(lambda t=t: self._consumer.list_topics(t, timeout=timeout),
                               f"listing topic {t!r}").topics.get(t) for t in topics}

    def _watermarks(self, partition: str) -> tuple[int, int]:
        """Low and high (or last stable) offset; waits out a listed partition briefly
        unknown, as a restarted broker reports it until loaded (librdkafka then keeps
        that answer cached until asked about the topic again)."""
        tp = confluent_kafka.TopicPartition(*split_partition(partition))
        give_up = time.monotonic() + _UNKNOWN_GRACE
        while True:
            try:
                return self._retry(lambda: self._consumer.get_watermark_offsets(
                    tp, timeout=self.config.request_timeout, cached=False),
                    f"offsets of {partition}")
            except confluent_kafka.KafkaException as err:
                if (err.args[0].code() != KafkaError._UNKNOWN_PARTITION
                        or time.monotonic() > give_up or self._stop.wait(0.5)):
                    raise
                log.warning("kafka source '%s': %s unknown to the broker (restarting?); "
                            "retrying", self.name, partition)
                with contextlib.suppress(confluent_kafka.KafkaException):
                    self._consumer.list_topics(tp.topic, timeout=self.config.request_timeout)

    def initial_position(self, partition: str) -> int:
        """Earliest or latest by ``start``; partitions that appear later start at earliest."""
        start = self.config.start
        if isinstance(start, dict):
            offset = start.get(partition, OFFSET_BEGINNING)
        elif start == "latest" and partition in self._at_open:
            offset = OFFSET_END
        else:
            offset = OFFSET_BEGINNING
        low, high = self._watermarks(partition)
        if offset == OFFSET_END:
            return high
        if offset == OFFSET_BEGINNING:
            return low
        return offset

    def plan(self, partition: str, start: Position, max_records: int | None) -> int:
        """Up to the partition's end now (LSO under read_committed), at most max_records on;
        a reader of this process hears where the range starts (:meth:`KafkaReader.prepare`)."""
        end = self._plan(partition, start, max_records)
        if end > int(start):
            for reader in list(self._readers):
                reader.prepare(partition, int(start))
        return end

    def _plan(self, partition: str, start: Position, max_records: int | None) -> int:
        """The range's end.

        A job catching up on a backlog plans ``start + max_records`` batch after batch:
        while an end seen less than a second ago already covers that, the plan takes it
        without a broker round trip (an end only moves forward; the lag shown is then
        up to a second old).
        """
        if max_records is not None:
            seen = self._seen.get(partition)
            if (seen is not None and seen[0] >= int(start) + max_records
                    and time.monotonic() - seen[1] < _SEEN_FRESH):
                return int(start) + max_records
        end = self._end(partition)
        self._high[partition] = end
        self._seen[partition] = (end, time.monotonic())
        if max_records is not None:
            end = min(end, start + max_records)
        return max(int(start), end)

    def lag(self, partition: str, end: Position) -> int | None:
        """Offsets between the batch's end and the high watermark seen while planning."""
        high = self._high.get(partition)
        return None if high is None else max(0, high - int(end))

    def _end(self, partition: str) -> int:
        """The partition's end, asked for every listed partition at once.

        The engine plans partitions one after the other; each request is a broker
        round trip, so the first plan of a batch asks for all partitions in
        parallel and the others take their answer (an end read a moment earlier
        is still a valid end: the batch covers a little less).
        """
        ready = self._ends.pop(partition, None)
        if ready is not None and time.monotonic() - ready[1] < _ENDS_FRESH:
            return ready[0]
        others = [p for p in self._listing if p != partition]
        if not others:
            return self._watermarks(partition)[1]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kafka-plan")
        futures = {p: self._pool.submit(self._watermarks, p) for p in others}
        end = self._watermarks(partition)[1]
        now = time.monotonic()
        for p, fut in futures.items():
            with contextlib.suppress(Exception):  # that partition's own plan() retries, raising
                self._ends[p] = (fut.result()[1], now)
        return end

    def on_batch_committed(self, positions: dict[str, Position]) -> None:
        """Commit the batch's end offsets to ``group_id`` (best effort: monitoring only)."""
        if not self.config.group_id or self._consumer is None or not positions:
            return
        offsets = [confluent_kafka.TopicPartition(*split_partition(name), int(offset))
                   for name, offset in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except confluent_kafka.KafkaException as err:
            log.warning("kafka source '%s': could not commit offsets to group %r (%s); "
                        "progress is safe in the checkpoint", self.name, self.config.group_id,
                        scrub(str(err), self._conf))

    def _retry(self, fn: Any, what: str) -> Any:
        return retry(fn, f"kafka source '{self.name}': {what}", self._stop, self._conf)


class KafkaReader(SourceReader):
    """Reads planned offset ranges (worker side); pickles as its config alone."""

    def __init__(self, config: KafkaSourceConfig):
        self.config = config
        self.name = "kafka"
        self._conf: dict[str, Any] = {}
        self._parts: dict[str, _Partition] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()  # close() from another thread ends a waiting read
        self._engine_stop = threading.Event()  # the engine's hard stop (ReaderContext)
        self._hints: dict[str, int] = {}  # partition -> where its first read will start
        self._starting: dict[str, Future[Any]] = {}  # partition -> its consumer, being started
        self._pool: ThreadPoolExecutor | None = None  # starts hinted consumers side by side
        self._values = config.value_decoder() if config.value_schema is not None else _JSON

    def __reduce__(self) -> tuple[Any, ...]:
        return KafkaReader, (self.config,)

    def __repr__(self) -> str:
        return f"KafkaReader({self.config!r})"

    def open(self, ctx: ReaderContext) -> None:
        self.name = ctx.name
        self._conf = _consumer_conf(self.config, ctx.name)
        self._stop.clear()
        self._engine_stop = ctx.stop_event
        hints, self._hints = self._hints, {}
        for partition, start in hints.items():
            self.prepare(partition, start)

    def prepare(self, partition: str, start: int) -> None:
        """The planning source's word that a read of ``partition`` will start at ``start``.

        Only a reader in the planner's own process hears it (one shipped to a worker
        pickles as its config). A partition this reader has no consumer for gets one
        started on a thread, assigned at ``start`` (its read waits for it): on the
        local runner a batch's tasks read the partitions one after the other, so the
        first batch started each consumer only when the one before had its records
        (60-120 ms each); now they all start and fetch at once. Before ``open`` the
        hint is kept for it. A hint that turns out wrong costs a consumer: the read
        starts a new one at its own start, as always.
        """
        if not self._conf:
            self._hints[partition] = start
            return
        if partition in self._parts or partition in self._starting or self._stopping():
            return
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
        for part in parts.values():
            part.consumer.close()

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
        """
        self._started(partition)
        part = self._parts.get(partition)
        if part is None or part.next_offset != start:
            part = self._fresh(partition, start)
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
                if errors.count(None) != len(msgs):
                    for err in errors:
                        if err is not None:
                            self._fetch_error(err, partition, start, end)
                    msgs = [m for m, e in zip(msgs, errors, strict=True) if e is None]
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


def _decode(raw: bytes | None, fmt: str, decoder: JsonDecoder = _JSON) -> Any:
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
