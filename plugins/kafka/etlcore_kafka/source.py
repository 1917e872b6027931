"""The ``kafka`` source: Spark's direct approach over explicit offset ranges.

Partitions are ``"topic:partition"`` and positions are offsets. The driver
plans each batch from the partition's end (the last stable offset under
read_committed, the high watermark otherwise), bounded by ``max_records``, and
the engine logs that range before reading it. ``read`` fetches exactly the
range with a consumer *assigned* to the partition; nothing is auto-committed,
because the checkpoint, not a consumer group, owns progress.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from etlcore.errors import EtlcoreError
from etlcore.source import Position, Rejected, Source, SourceContext

from etlcore_kafka._client import (
    KafkaError,
    build,
    client_conf,
    confluent_kafka,
    retry,
    scrub,
)
from etlcore_kafka.config import KafkaSourceConfig, split_partition

try:  # orjson parses 3-5x faster and raises a ValueError subclass, like json
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - optional speed-up
    _fast_loads = json.loads


def _json_loads(raw: bytes) -> Any:
    """orjson first; json decides what orjson refuses but json takes (ints beyond 64 bits)."""
    try:
        return _fast_loads(raw)
    except ValueError:
        return json.loads(raw)

log = logging.getLogger("etlcore.kafka")

_FETCH = 10_000  # messages per consume() call: large calls amortise the C boundary
_REFRESH_AFTER = 5.0  # seconds without progress before a partition's consumer is replaced
_STALL_WARN = 30.0  # seconds without progress before a read warns (the range exists)

OFFSET_END, OFFSET_BEGINNING = -1, -2


class KafkaSource(Source):
    """Reads planned offset ranges of every partition of ``topics``."""

    replayable = True

    def __init__(self, config: KafkaSourceConfig):
        self.config = config
        self.name = "kafka"
        self._stop: threading.Event | None = None
        self._conf: dict[str, Any] = {}
        self._consumer: Any = None  # the driver's: metadata, watermarks, group commits
        self._readers: dict[str, _Reader] = {}
        self._committer: Any = None  # commits group offsets (only with group_id)
        self._lock = threading.Lock()
        self._listing: list[str] = []
        self._listed_at = float("-inf")
        self._at_open: set[str] = set()
        self._warned_missing: set[str] = set()

    def __repr__(self) -> str:
        return f"KafkaSource({self.config!r})"

    # -- lifecycle ------------------------------------------------------------
    def open(self, ctx: SourceContext) -> None:
        self.name = ctx.name
        self._stop = ctx.stop_event
        c = self.config
        fixed = {
            "group.id": c.group_id or f"etlcore-reader-{ctx.name}",  # never used to commit
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",  # a planned offset that is gone is data loss
            "isolation.level": c.isolation,
            "enable.partition.eof": False,
        }
        self._conf = client_conf(c.bootstrap_servers, c.client_config, fixed, f"source '{ctx.name}'")
        self._conf.setdefault("fetch.wait.max.ms", 100)  # a long poll delays re-assignment
        self._conf.setdefault("queued.max.messages.kbytes", 16384)  # prefetch per partition
        self._consumer = build(confluent_kafka.Consumer, self._conf, f"source '{ctx.name}'")
        if c.group_id:
            self._committer = self._consumer
        self._at_open = set(self.partitions())

    def close(self) -> None:
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.consumer.close()
        consumer, self._consumer, self._committer = self._consumer, None, None
        if consumer is not None:
            consumer.close()

    # -- driver side ----------------------------------------------------------------
    def partitions(self) -> list[str]:
        """Every partition of the topics, re-listed once the cached listing is stale."""
        now = time.monotonic()
        if now - self._listed_at < self.config.metadata_max_age and self._listing:
            return list(self._listing)
        metadata = self._retry(lambda: self._consumer.list_topics(
            timeout=self.config.request_timeout), "listing topics")
        found: list[str] = []
        for topic in self.config.topics:
            md = metadata.topics.get(topic)
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
        self._listing = sorted(found, key=lambda n: (split_partition(n)[0], split_partition(n)[1]))
        self._listed_at = now
        return list(self._listing)

    def _watermarks(self, partition: str) -> tuple[int, int]:
        topic, part = split_partition(partition)
        tp = confluent_kafka.TopicPartition(topic, part)
        with self._lock:
            return self._retry(lambda: self._consumer.get_watermark_offsets(
                tp, timeout=self.config.request_timeout, cached=False),
                f"offsets of {partition}")

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
        """Up to the partition's end now (LSO under read_committed), at most max_records on."""
        _, end = self._watermarks(partition)
        if max_records is not None:
            end = min(end, start + max_records)
        return max(int(start), end)

    # -- reading -------------------------------------------------------------------------
    def read(self, partition: str, start: Position, end: Position) -> list[Any]:
        """Exactly the records at offsets ``[start, end)``, decoded."""
        return list(self._decode_all(self._fetch(partition, int(start), int(end))))

    def _reader(self, partition: str) -> _Reader:
        reader = self._readers.get(partition)
        if reader is None:
            consumer = build(confluent_kafka.Consumer, self._conf, f"source '{self.name}'")
            reader = self._readers[partition] = _Reader(consumer)
        return reader

    def _fetch(self, partition: str, start: int, end: int) -> Iterator[Any]:
        """Raw messages of the range; stops at offset end-1 or when the position reaches end.

        Each partition keeps its own assigned consumer, so the next batch's
        range continues from what was prefetched (Spark caches consumers per
        partition for the same reason); a range that does not continue the
        last one (a replay) re-assigns at ``start``. Transaction markers and
        aborted records occupy offsets but are never delivered under
        read_committed, so the last offset of a range may never arrive: the
        consumer position, which moves past them, ends the read.
        """
        topic, part = split_partition(partition)
        tp = confluent_kafka.TopicPartition(topic, part, start)
        reader = self._reader(partition)
        if reader.next_offset != start:
            # a fresh consumer: after a re-assign the old one reports its old position for a while
            if reader.assigned:
                reader.consumer.close()
                self._readers.pop(partition)
                reader = self._reader(partition)
            reader.consumer.assign([tp])
            reader.assigned = True
        consumer = reader.consumer
        reader.refreshes = 0
        reader.next_offset = None  # unknown until this read completes
        msgs, reader.leftover = reader.leftover, []
        last_progress = time.monotonic()
        warned = 0.0
        expected = start
        while True:
            for i, msg in enumerate(msgs):
                err = msg.error()
                if err is not None:
                    self._fetch_error(err, partition, start, end)
                    continue
                offset = msg.offset()
                if offset < start:
                    continue
                if offset >= end:
                    reader.leftover = [m for m in msgs[i:] if m.error() is None]
                    reader.next_offset = end
                    return
                expected = offset + 1
                yield msg
                if offset >= end - 1:
                    reader.leftover = [m for m in msgs[i + 1:] if m.error() is None]
                    reader.next_offset = end
                    return
            if msgs:
                last_progress = time.monotonic()
            position = consumer.position([tp])[0].offset
            if position >= end:
                reader.next_offset = end
                return
            if self._stop is not None and self._stop.is_set():
                raise EtlcoreError(f"kafka source '{self.name}': stopped while reading "
                                   f"{partition} [{start}, {end})")
            stalled = time.monotonic() - last_progress
            if stalled > _REFRESH_AFTER * (reader.refreshes + 1):
                # the range exists (it was planned), so a silent consumer is wedged, e.g.
                # on leader validation after a broker restart: start over from `expected`
                log.warning("kafka source '%s': %s silent for %.0fs at offset %d; reconnecting",
                            self.name, partition, stalled, expected)
                refreshes = reader.refreshes + 1
                reader.consumer.close()
                self._readers.pop(partition)
                reader = self._reader(partition)
                reader.refreshes = refreshes
                consumer = reader.consumer
                tp = confluent_kafka.TopicPartition(topic, part, expected)
                consumer.assign([tp])
                reader.assigned = True
            if stalled - warned > _STALL_WARN:
                warned = stalled
                log.warning("kafka source '%s': no data from %s for %.0fs at offset %s (range "
                            "[%d, %d)); still waiting", self.name, partition, stalled, position,
                            start, end)
            # consume() waits until it has the count asked for: ask for no more than is left
            msgs = consumer.consume(max(1, min(_FETCH, end - expected)), 0.2)

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

    def _decode_all(self, msgs: Iterator[Any]) -> Iterator[Any]:
        c = self.config
        if c.value_only:  # the hot path: one decode per record, keys untouched
            fmt = c.value_format
            for msg in msgs:
                raw = msg.value()
                try:
                    yield _decode(raw, fmt)
                except ValueError as err:
                    yield _rejected(msg, err)
            return
        for msg in msgs:
            try:
                value = _decode(msg.value(), c.value_format)
                key = _decode(msg.key(), c.key_format)
            except ValueError as err:
                yield _rejected(msg, err)
                continue
            ts_type, ts = msg.timestamp()
            yield {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key,
                "value": value,
                "headers": list(msg.headers() or ()),
                "timestamp": ts if ts_type != confluent_kafka.TIMESTAMP_NOT_AVAILABLE else None,
            }

    # -- progress for lag tools ------------------------------------------------------------
    def on_batch_committed(self, positions: dict[str, Position]) -> None:
        """Commit the batch's end offsets to ``group_id`` (best effort: monitoring only)."""
        if self._committer is None or not positions:
            return
        offsets = []
        for name, offset in positions.items():
            topic, part = split_partition(name)
            offsets.append(confluent_kafka.TopicPartition(topic, part, int(offset)))
        try:
            with self._lock:
                self._committer.commit(offsets=offsets, asynchronous=False)
        except confluent_kafka.KafkaException as err:
            log.warning("kafka source '%s': could not commit offsets to group %r (%s); "
                        "progress is safe in the checkpoint", self.name, self.config.group_id,
                        scrub(str(err), self._conf))

    def estimate(self, partition: str, start: Position, end: Position) -> int | None:
        return int(end) - int(start)

    def _retry(self, fn: Any, what: str) -> Any:
        return retry(fn, f"kafka source '{self.name}': {what}", self._stop, self._conf)


class _Reader:
    """One partition's consumer, where its last read ended, and what it fetched beyond."""

    def __init__(self, consumer: Any):
        self.consumer = consumer
        self.next_offset: int | None = None
        self.leftover: list[Any] = []
        self.assigned = False
        self.refreshes = 0


def _decode(raw: bytes | None, fmt: str) -> Any:
    """bytes -> value by format; raises ValueError for undecodable JSON or UTF-8."""
    if fmt == "json" and raw is not None:
        return _json_loads(raw)
    if raw is None or fmt == "bytes":
        return raw
    return raw.decode("utf-8", "replace")


def _rejected(msg: Any, err: ValueError) -> Rejected:
    where = f"{msg.topic()}:{msg.partition()}@{msg.offset()}"
    return Rejected(msg.value(), f"invalid JSON: {err} (at {where})")
