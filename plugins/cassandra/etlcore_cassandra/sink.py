"""The ``cassandra`` sink: idempotent upserts by a deterministic key, exactly once.

Strategy 1 of :mod:`etlcore.sink` (:class:`~etlcore.sink.UpsertSink`): a Cassandra
INSERT is an upsert by primary key, so a replayed batch writes the same rows again and
the table converges to a clean run's content.

- ``mode: upsert``: the key is the record's primary key fields (``key``); the last record
  per key in a partition wins (partition by key upstream when keys repeat across partitions).
- ``mode: append``: a record has no key of its own; it is keyed by (checkpoint epoch,
  batch id, partition, position in the partition), which a replay reproduces exactly
  (``read`` returns the same records in the same order). The epoch keeps a job started on
  a new checkpoint (batch ids from 0 again) from overwriting the old run's rows.

Cell versions: with ``write_timestamp: batch_time`` every write carries ``USING TIMESTAMP``
of the batch's scheduled time, never the wall clock, so a replay writes the very same cells
(same value, same timestamp) and a later batch's value always wins over an earlier one's.

Sides: :class:`CassandraSink` (driver) creates the keyspace and table on request and reads
the table's columns; :class:`CassandraWriter` (worker) is pickled without a client, opens
its ``Cluster`` in ``connect()``, binds each record to a prepared INSERT (a value the column
type refuses dead-letters the record with the driver's reason) and sends chunks with
``execute_concurrent`` (at most ``concurrency`` requests in flight). A row the server
refuses (an oversize key) is dead-lettered with the server's message. Timeouts,
unavailability and lost connections are retried (only the failed statements) with
exponential backoff and jitter for up to ``retry_for`` seconds; every retry logs a warning
on ``etlcore.cassandra`` and counts in :data:`STATS`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from typing import Any

from etlcore import metrics
from etlcore.batch import BatchInfo
from etlcore.errors import EtlcoreError
from etlcore.plugin.imports import require_module
from etlcore.plugin.redact import RedactedRepr, redact, redacted_errors
from etlcore.plugin.retry import backoff
from etlcore.sink import RejectRecord, SinkContext, UpsertSink, UpsertWriter, WriteResult
from etlcore_cassandra.config import (
    APPEND_KEY,
    APPEND_PRIMARY_KEY,
    CassandraSinkConfig,
    flat_key,
)

log = logging.getLogger("etlcore.cassandra")

#: process-wide counters: ``retries`` (rounds of re-sending), ``retried_writes``
#: (statements re-sent), ``rejected`` (records dead-lettered), ``connect_retries``
STATS: dict[str, int] = {"retries": 0, "retried_writes": 0, "rejected": 0, "connect_retries": 0}
_stats_lock = threading.Lock()


def _count(name: str, n: int = 1) -> None:
    with _stats_lock:
        STATS[name] += n
    metrics.count(f"cassandra.{name}", n)  # the batch's metrics, from any runner


def _driver() -> Any:
    return require_module("cassandra.cluster", "cassandra-driver", feature="the cassandra sink")


def _transient() -> tuple[type[BaseException], ...]:
    """Errors worth retrying: the cluster is slow, short of replicas or unreachable."""
    import cassandra
    from cassandra import connection, protocol

    cluster = _driver()
    return (cassandra.OperationTimedOut, cassandra.Unavailable, cassandra.Timeout,
            cassandra.CoordinationFailure, cluster.NoHostAvailable,
            connection.ConnectionException, protocol.OverloadedErrorMessage,
            protocol.IsBootstrappingErrorMessage, protocol.ServerError, OSError)


def _q(name: str) -> str:
    return f'"{name}"'


def _open_cluster(config: CassandraSinkConfig, what: str, *, metadata: bool) -> tuple[Any, Any]:
    """A connected ``(Cluster, Session)``; retried like writes while the cluster is down."""
    cluster_mod = _driver()
    from cassandra import ConsistencyLevel
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.connection import DefaultEndPoint
    from cassandra.policies import (
        ConstantReconnectionPolicy,
        DCAwareRoundRobinPolicy,
        TokenAwarePolicy,
    )

    points = []
    for host in config.contact_points:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        points.append(DefaultEndPoint(name, int(port) if port else config.port))
    profile = cluster_mod.ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=getattr(ConsistencyLevel, config.consistency.upper()),
        request_timeout=config.request_timeout)
    kwargs: dict[str, Any] = {}
    if config.protocol_version is not None:
        kwargs["protocol_version"] = config.protocol_version
    if config.username is not None:
        kwargs["auth_provider"] = PlainTextAuthProvider(config.username, config.password)
    deadline = time.monotonic() + config.retry_for
    attempt = 0
    while True:
        cluster = cluster_mod.Cluster(
            contact_points=points, port=config.port,
            execution_profiles={cluster_mod.EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=config.connect_timeout, control_connection_timeout=config.connect_timeout,
            reconnection_policy=ConstantReconnectionPolicy(0.5, None),
            schema_metadata_enabled=metadata, **kwargs)
        try:
            with redacted_errors(config, what):
                return cluster, cluster.connect()
        except _transient() as err:
            cluster.shutdown()
            left = deadline - time.monotonic()
            if left <= 0:
                err.add_note(f"etlcore: {what} could not connect for {config.retry_for:.0f}s")
                raise
            delay = min(backoff(attempt, 0.2, config.retry_cap), left)
            _count("connect_retries")
            log.warning("%s: cannot connect (%s: %s); retry %d in %.2fs", what,
                        type(err).__name__, redact(str(err), config), attempt + 1, delay)
            time.sleep(delay)
            attempt += 1
        except BaseException:
            cluster.shutdown()
            raise


class CassandraWriter(RedactedRepr, UpsertWriter):
    """Worker side: binds records to a prepared INSERT, sends chunks concurrently."""

    def __init__(self, config: CassandraSinkConfig, columns: list[tuple[str, str]],
                 key_fields: list[str], epoch: str | None, what: str):
        self.config = config
        self.columns = columns  # data columns, in order (append key columns excluded)
        self.key_fields = key_fields
        self.epoch = epoch
        self.what = what
        self.chunk_records = config.chunk_records
        self._names = [c for c, _ in columns]
        self._index = {c: i for i, c in enumerate(self._names)}
        self._key_index = [self._index[k] for k in key_fields]
        self._cluster: Any = None
        self._session: Any = None
        self._insert: Any = None
        self._unset: Any = None
        self._rejected: list[tuple[Any, str]] = []
        self._ts: int | None = None
        self._batch_id = 0
        self._partition = 0
        self._position = 0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_cluster=None, _session=None, _insert=None, _unset=None, _rejected=[])
        return state

    # -- client ----------------------------------------------------------------------------
    def connect(self) -> None:
        from cassandra.query import UNSET_VALUE

        self._cluster, self._session = _open_cluster(self.config, self.what, metadata=False)
        names = self._names + (list(APPEND_KEY) if self.config.mode == "append" else [])
        using = []
        if self.config.ttl is not None:
            using.append(f"TTL {self.config.ttl}")
        if self.config.write_timestamp == "batch_time":
            using.append("TIMESTAMP ?")
        cql = (f"INSERT INTO {_q(self.config.keyspace)}.{_q(self.config.table)} "
               f"({', '.join(map(_q, names))}) VALUES ({', '.join('?' for _ in names)})"
               + (f" USING {' AND '.join(using)}" if using else ""))
        with redacted_errors(self.config, self.what):
            self._insert = self._retrying(lambda: self._session.prepare(cql), "prepare")
        self._insert.is_idempotent = True
        self._unset = UNSET_VALUE

    def disconnect(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
        self._cluster = self._session = self._insert = None

    def _retrying(self, fn: Any, what: str) -> Any:
        deadline = time.monotonic() + self.config.retry_for
        attempt = 0
        while True:
            try:
                return fn()
            except _transient() as err:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                delay = min(backoff(attempt, 0.2, self.config.retry_cap), left)
                _count("retries")
                log.warning("%s: %s failed (%s: %s); retry %d in %.2fs", self.what, what,
                            type(err).__name__, redact(str(err), self.config), attempt + 1,
                            delay)
                time.sleep(delay)
                attempt += 1

    # -- records ---------------------------------------------------------------------------
    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        self._rejected = []
        self._ts = int(round(batch.batch_time * 1_000_000))
        self._batch_id, self._partition, self._position = batch.batch_id, partition, 0
        result = super().write(batch, partition, records)
        if not self._rejected:
            return result
        _count("rejected", len(self._rejected))
        if isinstance(result, WriteResult):
            return WriteResult(result.message, result.rejected + self._rejected)
        return WriteResult(result, self._rejected)

    def _values(self, record: Any) -> list[Any]:
        unset = self._unset
        if isinstance(record, dict):
            values = [unset] * len(self._names)
            for field, value in record.items():
                i = self._index.get(field)
                if i is None:
                    if self.config.extra_fields == "dead_letter":
                        raise RejectRecord(f"field {field!r} is not a column of "
                                           f"{self.config.keyspace}.{self.config.table} "
                                           f"(columns: {', '.join(self._names)})")
                    continue
                values[i] = value
            return values
        if isinstance(record, (tuple, list)):
            if len(record) == len(self._names) and not any(
                    type(v) is tuple for v in record):  # the common case: no nesting
                return list(record)
            flat: list[Any] = []
            _flatten(record, flat)
            if len(flat) != len(self._names):
                raise RejectRecord(f"a record of {len(flat)} values for the "
                                   f"{len(self._names)} columns {', '.join(self._names)}")
            return flat
        raise RejectRecord(f"a {type(record).__name__} record: expected a dict of columns or "
                           "a tuple of values in column order")

    def key(self, record: Any) -> Hashable:  # unused: prepare() computes the key with the values
        raise NotImplementedError

    def prepare(self, record: Any) -> tuple[Hashable, Any]:
        position = self._position
        self._position += 1
        values = self._values(record)
        if self.config.mode == "append":
            key: Hashable = (self.epoch, self._batch_id, self._partition, position)
            values.extend(key)  # type: ignore[arg-type]
        else:
            key = tuple([values[i] for i in self._key_index])
            for field, value in zip(self.key_fields, key, strict=True):
                if value is self._unset or value is None:
                    raise RejectRecord(f"key field {field!r} is "
                                       f"{'missing' if value is self._unset else 'null'}")
            try:
                hash(key)
            except TypeError:
                raise RejectRecord(f"key {key!r} is not hashable (a key column cannot hold "
                                   "a collection)") from None
        if self._ts is not None and self.config.write_timestamp == "batch_time":
            values.append(self._ts)
        try:
            bound = self._insert.bind(values)
        except Exception as err:  # noqa: BLE001 - the driver's serializers raise many types
            raise RejectRecord(f"cannot be stored in {self.config.keyspace}."
                               f"{self.config.table}: {type(err).__name__}: {err}") from None
        return key, (bound, record)

    def combine(self, items: list[Any]) -> list[Any]:
        """The last record per key, in the order of last occurrences (as UpsertWriter's);
        append keys never repeat, and distinct upsert keys are kept as they are."""
        if self.config.mode == "append" or len({key for key, _ in items}) == len(items):
            return items
        return super().combine(items)

    def upsert(self, rows: list[tuple[Hashable, Any]]) -> None:
        from cassandra import InvalidRequest
        from cassandra.concurrent import execute_concurrent

        transient = _transient()
        pending = rows
        deadline: float | None = None
        attempt = 0
        while True:
            results = execute_concurrent(
                self._session, [(bound, None) for _, (bound, _) in pending],
                concurrency=self.config.concurrency, raise_on_first_error=False)
            again: list[tuple[Hashable, Any]] = []
            first: BaseException | None = None
            for row, (ok, res) in zip(pending, results, strict=True):
                if ok:
                    continue
                if isinstance(res, transient):
                    again.append(row)
                    first = first or res
                elif isinstance(res, InvalidRequest) and not _schema_error(res):
                    self._rejected.append((row[1][1], f"Cassandra refused the row: {res}"))
                else:
                    raise EtlcoreError(f"{self.what}: writing {self.config.keyspace}."
                                       f"{self.config.table} failed: {type(res).__name__}: "
                                       f"{redact(str(res), self.config)}") from None
            if not again:
                return
            assert first is not None
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.config.retry_for
            if now >= deadline:
                first.add_note(f"etlcore: {len(again)} writes still failing after "
                               f"{self.config.retry_for:.0f}s of retries")
                raise first
            delay = min(backoff(attempt, 0.1, self.config.retry_cap), deadline - now)
            _count("retries")
            _count("retried_writes", len(again))
            log.warning("%s: %d of %d writes failed (%s: %s); retry %d in %.2fs", self.what,
                        len(again), len(pending), type(first).__name__,
                        redact(str(first), self.config)[:300], attempt + 1, delay)
            time.sleep(delay)
            attempt += 1
            pending = again


def _flatten(values: Any, out: list[Any]) -> None:
    for v in values:
        if isinstance(v, tuple):
            _flatten(v, out)
        else:
            out.append(v)


def _schema_error(err: BaseException) -> bool:
    """An InvalidRequest about the table itself, not about one row (every row would fail)."""
    text = str(err).lower()
    return "unconfigured table" in text or "keyspace" in text and "does not exist" in text


class CassandraSink(RedactedRepr, UpsertSink):
    """Driver side: DDL on request, the table's columns; writers store directly."""

    def __init__(self, config: CassandraSinkConfig):
        self.config = config
        self.name = "cassandra"
        self._columns: list[tuple[str, str]] | None = (
            list(config.columns.items()) if config.columns is not None else None)
        self._key: list[str] | None = None
        self._epoch: str | None = None

    @property
    def what(self) -> str:
        return f"cassandra sink '{self.name}'"

    def open(self, ctx: SinkContext) -> None:
        self.name = ctx.name
        self._epoch = ctx.epoch
        if self.config.mode == "append" and self._epoch is None:
            raise EtlcoreError(f"{self.what}: mode 'append' keys rows by the checkpoint's "
                               "epoch and batch ids: give the job a checkpoint")
        cluster, session = _open_cluster(self.config, self.what, metadata=False)
        try:
            with redacted_errors(self.config, self.what):
                self._ddl(session)
                self._read_table(session)
        finally:
            cluster.shutdown()

    def _ddl(self, session: Any) -> None:
        c = self.config
        if c.create_keyspace:
            repl = ", ".join(f"'{k}': {v!r}" if isinstance(v, str) else f"'{k}': {v}"
                             for k, v in c.replication.items())
            session.execute(f"CREATE KEYSPACE IF NOT EXISTS {_q(c.keyspace)} WITH replication "
                            f"= {{{repl}}}")
        if c.create_table:
            assert c.columns is not None
            cols = dict(c.columns)
            pk = c.primary_key
            if c.mode == "append":
                cols.update(APPEND_KEY)
                pk = APPEND_PRIMARY_KEY
            assert pk is not None
            first = pk[0]
            partition = _q(first) if isinstance(first, str) else f"({', '.join(map(_q, first))})"
            rest = "".join(f", {_q(col)}" for col in pk[1:])  # type: ignore[arg-type]
            body = ", ".join(f"{_q(n)} {t}" for n, t in cols.items())
            session.execute(f"CREATE TABLE IF NOT EXISTS {_q(c.keyspace)}.{_q(c.table)} "
                            f"({body}, PRIMARY KEY ({partition}{rest}))")
            session.cluster.control_connection.wait_for_schema_agreement()

    def _read_table(self, session: Any) -> None:
        """Columns and primary key from ``system_schema`` (no full schema metadata fetch)."""
        c = self.config
        found = list(session.execute(
            "SELECT column_name, kind, position, type FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s", (c.keyspace, c.table)))
        if not found:
            raise EtlcoreError(f"{self.what}: table {c.keyspace}.{c.table} does not exist "
                               "(set create_table with columns and primary_key, or create it)")
        order = {"partition_key": 0, "clustering": 1}
        found.sort(key=lambda r: (order.get(r.kind, 2), r.position if r.kind in order else 0,
                                  r.column_name))
        table_columns = {r.column_name: r.type for r in found}
        pk = [r.column_name for r in found if r.kind in order]
        if c.mode == "append":
            if pk != flat_key(APPEND_PRIMARY_KEY):
                raise EtlcoreError(f"{self.what}: append mode needs the primary key "
                                   f"{APPEND_PRIMARY_KEY}; {c.keyspace}.{c.table} has {pk}")
            self._key = []
        else:
            key = c.key or pk
            if set(key) != set(pk):
                raise EtlcoreError(f"{self.what}: key {key} is not the primary key {pk} of "
                                   f"{c.keyspace}.{c.table}: Cassandra upserts by primary key")
            self._key = list(key)
        if self._columns is None:
            self._columns = [(n, t) for n, t in table_columns.items()
                             if c.mode != "append" or n not in APPEND_KEY]
        missing = [n for n, _ in self._columns if n not in table_columns]
        if missing:
            raise EtlcoreError(f"{self.what}: declared columns {missing} are not in "
                               f"{c.keyspace}.{c.table}")

    def writer(self) -> CassandraWriter:
        if self._columns is None or self._key is None:
            raise EtlcoreError(f"{self.what}: writer() before open()")
        return CassandraWriter(self.config, self._columns, self._key, self._epoch, self.what)
