"""The ``kinesis`` source: shards as partitions, sequence numbers as positions.

- :class:`KinesisSource` (driver): discovers shards, gates children on their
  parents and plans each range by reading ahead.
- :class:`KinesisReader` (worker): picklable (config only); opens its own boto3
  client and reads a planned range again by sequence numbers.

Kinesis sequence numbers cannot be counted ahead, so :meth:`KinesisSource.plan`
reads ahead: it fetches up to ``max_records`` records past ``start`` and
returns the last sequence number read as the range's end. It leaves those
records in a process-local hand-off, so a reader in the driver's process (the
``local`` runner) takes them instead of calling Kinesis twice; a reader
elsewhere, or after a restart, reads the range again, bounded by sequence numbers.

Positions (JSON objects, written to the batch-plan log):

``{"at": "TRIM_HORIZON"}``
    the oldest retained record of a shard (``start="trim_horizon"``).
``{"since": T}``
    records that arrived at or after epoch second ``T``, the time the job
    first started (``start="latest"``; ``T`` is kept in the checkpoint under
    ``sources/<name>/kinesis.json`` so restarts and shards born later agree).
``{"after": seq}``
    after the record ``seq``: the end of a range, and ``start={shard: seq}``.
``"first": seq``
    added to a range end whose start has no ``"after"`` (the two forms
    above): the first record of the range, so a replay reads exactly
    ``[first, after]`` with AT_SEQUENCE_NUMBER instead of re-resolving a
    moving TRIM_HORIZON or tip. Symbolic starts are therefore never replayed.
``"closed": true``
    added once a closed shard is read to its end (GetRecords returned no
    NextShardIterator); nothing is planned past it.

Resharding: every ``partitions()`` lists the shards (parents before their
children). A child is not planned until each of its parents that is still
listed has a closed position in the committed positions, so per partition key
all parent records are committed in earlier batches than any child record, the
order Kinesis documents for consumers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from etlcore.checkpoint import atomic_write
from etlcore.jsondecode import loads as json_loads
from etlcore.source import Position, ReaderContext, Rejected, Source, SourceContext, SourceReader
from etlcore_kinesis.client import IteratorExpired, KinesisClient, KinesisError
from etlcore_kinesis.config import KinesisSourceConfig

log = logging.getLogger("etlcore_kinesis")

_CURSOR_TTL = 240.0  # shard iterators live 300 s; reuse them for less
_EMPTY_POLLS = 5  # empty GetRecords answers tolerated while MillisBehindLatest > 0

Record = dict[str, Any]  # a GetRecords record: SequenceNumber, Data, PartitionKey, ...
_HandoffKey = tuple[str, str, str, str, str]  # endpoint, stream, shard, start, end

# ranges the planner read ahead, for a reader in the same process; one per shard and source
_handoff: dict[_HandoffKey, list[Record]] = {}
_handoff_lock = threading.Lock()


def _key(position: Position) -> str:
    return json.dumps(position, sort_keys=True)


def _handoff_key(config: KinesisSourceConfig, shard: str, start: Position,
                 end: Position) -> _HandoffKey:
    endpoint = config.endpoint_url or config.region
    return endpoint, config.stream_name, shard, _key(start), _key(end)


def _closed(position: Position) -> bool:
    return isinstance(position, dict) and position.get("closed") is True


def _parents(shard: dict[str, Any]) -> list[str]:
    return [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]


class KinesisSource(Source):
    """Plans replayable sequence-number ranges of a Kinesis stream (driver side)."""

    replayable = True

    def __init__(self, config: KinesisSourceConfig):
        self.config = config
        self.name = config.stream_name
        self._client: KinesisClient | None = None
        self._shards: dict[str, dict[str, Any]] = {}
        self._since: float | None = None
        self._cursors: dict[str, tuple[str, str, float]] = {}  # shard -> (start key, iterator, t)
        self._planned: dict[str, tuple[_HandoffKey, int]] = {}  # shard -> last range, count
        self._seen: dict[str, Position] = {}  # start of each shard in the current plan
        self._committed: dict[str, Position] = {}

    # -- lifecycle ---------------------------------------------------------------
    @property
    def client(self) -> KinesisClient:
        if self._client is None:
            raise KinesisError(f"kinesis source for stream '{self.name}' used before open()")
        return self._client

    def open(self, ctx: SourceContext) -> None:
        """Check the stream exists (failing fast, with its name) and fix ``latest``'s time."""
        self._client = KinesisClient(self.config, ctx.stop_event)
        summary = self.client.call("describe_stream_summary", retries=2,
                                   StreamName=self.name)["StreamDescriptionSummary"]
        if summary.get("StreamStatus") in ("CREATING", "DELETING"):
            raise KinesisError(f"Kinesis stream '{self.name}' is {summary['StreamStatus']}")
        if self.config.start == "latest":
            self._open_latest(ctx)

    def _open_latest(self, ctx: SourceContext) -> None:
        state = ctx.state_dir()
        path = state / "kinesis.json" if state is not None else None
        if path is not None and path.exists():
            self._since = float(json.loads(path.read_text())["latest_since"])
            return
        self._since = time.time()
        if path is not None:
            atomic_write(path, json.dumps({"stream": self.name,
                                           "latest_since": self._since}).encode())
        # the tip as of now: the first plan of each open shard continues from here
        start = _key({"since": self._since})
        for shard_id, shard in self._list_shards().items():
            if "EndingSequenceNumber" not in shard["SequenceNumberRange"]:
                iterator = self.client.iterator(shard_id, "LATEST")
                self._cursors[shard_id] = (start, iterator, time.monotonic())

    def close(self) -> None:
        self._cursors.clear()
        with _handoff_lock:
            for key, _ in self._planned.values():
                _handoff.pop(key, None)
        self._planned.clear()
        if self._client is not None:
            self._client.close()
            self._client = None

    def reader(self) -> KinesisReader:
        return KinesisReader(self.config)

    def on_batch_committed(self, positions: dict[str, Position]) -> None:
        self._committed = dict(positions)

    # -- shards ------------------------------------------------------------------
    def _list_shards(self) -> dict[str, dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": self.name}
        while True:
            resp = self.client.call("list_shards", **kwargs)
            shards.extend(resp.get("Shards", []))
            token = resp.get("NextToken")
            if not token:
                break
            kwargs = {"NextToken": token}
        return {s["ShardId"]: s for s in shards}

    def partitions(self) -> list[str]:
        """Shard ids, listed anew every batch, parents before children."""
        shards = self._list_shards()
        self._shards = shards
        order: list[str] = []
        done: set[str] = set()

        def visit(shard_id: str) -> None:
            if shard_id in done:
                return
            done.add(shard_id)
            for parent in _parents(shards[shard_id]):
                if parent in shards:
                    visit(parent)
            order.append(shard_id)

        for shard_id in sorted(shards):
            visit(shard_id)
        return order

    def initial_position(self, partition: str) -> Position:
        start = self.config.start
        if isinstance(start, dict):
            return {"after": start[partition]} if partition in start else {"at": "TRIM_HORIZON"}
        if start == "latest":
            if self._since is None:
                raise KinesisError(f"kinesis source for stream '{self.name}' used before open()")
            return {"since": self._since}
        return {"at": "TRIM_HORIZON"}

    def _parents_done(self, partition: str) -> bool:
        for parent in _parents(self._shards.get(partition, {})):
            if parent not in self._shards:
                continue  # expired past retention: nothing left to read first
            position = self._seen.get(parent, self._committed.get(parent))
            if not _closed(position):
                return False
        return True

    # -- planning ----------------------------------------------------------------
    def plan(self, partition: str, start: Position, max_records: int | None) -> Position:
        """Read ahead up to ``max_records`` records; their range becomes the batch's."""
        self._seen[partition] = start
        if _closed(start) or not self._parents_done(partition):
            return start
        limit = self.config.max_records_per_batch if max_records is None else max_records
        if limit <= 0:
            return start
        records, closed = self._fetch(partition, start, limit)
        if not records and not closed:
            return start
        end: dict[str, Any] = {}
        if records:
            end["after"] = records[-1]["SequenceNumber"]
            if "after" not in start:
                end["first"] = records[0]["SequenceNumber"]
        elif "after" in start:
            end["after"] = start["after"]
        if closed:
            end["closed"] = True
            log.info("Kinesis shard %s of stream '%s' is closed and read to its end",
                     partition, self.name)
        self._hand_off(partition, _handoff_key(self.config, partition, start, end), records)
        return end

    def _hand_off(self, shard: str, key: _HandoffKey, records: list[Record]) -> None:
        """Leave the range for a reader in this process, replacing the shard's last one."""
        with _handoff_lock:
            previous = self._planned.get(shard)
            if previous is not None:
                _handoff.pop(previous[0], None)
            _handoff[key] = records
        self._planned[shard] = (key, len(records))

    def estimate(self, partition: str, start: Position, end: Position) -> int | None:
        planned = self._planned.get(partition)
        if planned is None or planned[0] != _handoff_key(self.config, partition, start, end):
            return None
        return planned[1]

    def _start_iterator(self, shard: str, start: Position) -> str:
        """A fresh iterator at ``start``; ``since`` scans from TRIM_HORIZON (filtered after).

        AT_TIMESTAMP would skip the scan, but kinesalite never answers it when no
        record is that recent, and a quiet shard is exactly when ``since`` is used.
        """
        if not isinstance(start, dict):
            raise KinesisError(f"unknown Kinesis position {start!r} for shard {shard}")
        if "after" in start:
            return self.client.iterator(shard, "AFTER_SEQUENCE_NUMBER", start["after"])
        if start.get("at") == "TRIM_HORIZON" or "since" in start:
            return self.client.iterator(shard, "TRIM_HORIZON")
        raise KinesisError(f"unknown Kinesis position {start!r} for shard {shard}")

    def _fetch(self, shard: str, start: Position, limit: int) -> tuple[list[Record], bool]:
        """Up to ``limit`` records after ``start`` and whether the shard ended."""
        cursor = self._cursors.pop(shard, None)
        iterator = None
        if cursor and cursor[0] == _key(start) and time.monotonic() - cursor[2] < _CURSOR_TTL:
            iterator = cursor[1]
        try:
            return self._poll(shard, start, limit, iterator or self._start_iterator(shard, start))
        except IteratorExpired:
            return self._poll(shard, start, limit, self._start_iterator(shard, start))

    def _poll(self, shard: str, start: Position, limit: int,
              iterator: str) -> tuple[list[Record], bool]:
        since = start.get("since") if "after" not in start else None
        out: list[Record] = []
        empty = 0
        closed = False
        while len(out) < limit:
            want = min(self.config.max_records_per_call, limit - len(out))
            resp = self.client.call("get_records", ShardIterator=iterator, Limit=want)
            got = resp.get("Records", [])
            if since is not None and not out:  # skip to the first record at or after T
                skip = next((i for i, r in enumerate(got) if _arrival(r) >= since), len(got))
                got = got[skip:]
            out.extend(got)
            following = resp.get("NextShardIterator")
            if not following:
                closed = True
                break
            iterator = following
            behind = resp.get("MillisBehindLatest", 0)
            if not resp.get("Records"):
                empty += 1
                if behind == 0 or empty >= _EMPTY_POLLS:
                    break
            elif behind == 0 and len(resp["Records"]) < want:
                break
        if not closed:
            end_key = _key({"after": out[-1]["SequenceNumber"]} if out else start)
            self._cursors[shard] = (end_key, iterator, time.monotonic())
        return out, closed


class KinesisReader(SourceReader):
    """Reads planned ranges (worker side); pickles as its config alone."""

    def __init__(self, config: KinesisSourceConfig):
        self.config = config
        self.name = config.stream_name
        self._client: KinesisClient | None = None
        self._stop = threading.Event()  # close() from another thread ends a retrying read

    def __reduce__(self) -> tuple[Any, ...]:
        return KinesisReader, (self.config,)

    def open(self, ctx: ReaderContext) -> None:
        self._stop.clear()
        self._client = KinesisClient(self.config, self._stop)

    def close(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()
            self._client = None

    def read(self, partition: str, start: Position, end: Position) -> list[Any]:
        """The records of ``[start, end]``: the planner's hand-off, else from Kinesis."""
        with _handoff_lock:
            records = _handoff.pop(_handoff_key(self.config, partition, start, end), None)
        if records is None:
            records = self._reread(partition, start, end)
        return [self._decode(partition, r) for r in records]

    def _reread(self, shard: str, start: Position, end: Position) -> list[Record]:
        last = end.get("after") if isinstance(end, dict) else None
        if last is None or (isinstance(start, dict) and last == start.get("after")):
            return []
        if "first" in end:  # the range began at a symbolic start: pinned by its first record
            origin = ("AT_SEQUENCE_NUMBER", str(end["first"]))
        elif isinstance(start, dict) and "after" in start:
            origin = ("AFTER_SEQUENCE_NUMBER", str(start["after"]))
        else:
            raise KinesisError(f"cannot replay Kinesis range {start!r}..{end!r} of shard {shard}")
        for _ in range(3):
            try:
                return self._read_until(shard, origin, int(last))
            except IteratorExpired:
                continue
        raise KinesisError(f"shard iterators kept expiring while replaying shard {shard}")

    def _read_until(self, shard: str, origin: tuple[str, str], last: int) -> list[Record]:
        if self._client is None:
            raise KinesisError(f"kinesis reader for stream '{self.name}' used before open()")
        client = self._client
        iterator = client.iterator(shard, *origin)
        out: list[Record] = []
        empty = 0
        while True:
            resp = client.call("get_records", ShardIterator=iterator,
                               Limit=self.config.max_records_per_call)
            for record in resp.get("Records", []):
                seq = int(record["SequenceNumber"])
                if seq > last:
                    return out
                out.append(record)
                if seq == last:
                    return out
            following = resp.get("NextShardIterator")
            empty = 0 if resp.get("Records") else empty + 1
            if not following or (empty and resp.get("MillisBehindLatest", 0) == 0) \
                    or empty > 20 * _EMPTY_POLLS:
                raise KinesisError(
                    f"Kinesis shard {shard} of stream '{self.name}' no longer holds the planned "
                    f"range ending at {last} (expired past retention?); cannot replay it exactly")
            iterator = following

    def _decode(self, shard: str, record: Record) -> Any:
        raw: bytes = record["Data"]
        fmt = self.config.value_format
        value: Any = raw
        try:
            if fmt == "str":
                value = raw.decode("utf-8")
            elif fmt == "json":
                value = json_loads(raw)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return Rejected(raw if self.config.value_only else _meta(shard, record, raw),
                            f"undecodable {fmt}: {err}",
                            f"shard {shard}, sequence {record['SequenceNumber']}")
        return value if self.config.value_only else _meta(shard, record, value)


def _meta(shard: str, record: Record, data: Any) -> dict[str, Any]:
    return {"shard": shard, "sequence_number": record["SequenceNumber"],
            "partition_key": record.get("PartitionKey"), "data": data,
            "approximate_arrival_timestamp": _arrival(record)}


def _arrival(record: Record) -> float:
    stamp = record.get("ApproximateArrivalTimestamp")
    if stamp is None:
        return 0.0
    return float(stamp.timestamp()) if hasattr(stamp, "timestamp") else float(stamp)
