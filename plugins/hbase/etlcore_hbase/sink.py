"""The ``hbase`` sink: idempotent puts through the HBase Thrift v1 gateway (happybase).

Exactly-once by strategy 1 of :mod:`etlcore.sink` (deterministic keys + upsert):

- The row key comes from the record alone: the ``row_key`` template over record fields
  (``"{user}#{window_start}"``), or, in append mode (no template), from the checkpoint's
  epoch, the batch id, the partition and the record's position in it. Never a clock, a
  uuid or a counter.
- Every cell of a batch is written with the *batch time* (milliseconds) as its HBase
  timestamp, so a replayed batch writes exactly the same cell versions again: nothing
  new appears, however often a batch is replayed (and with ``max_versions > 1`` the
  version history is the same too).

Sides: :class:`HBaseSink` (driver) checks or creates the table at ``open`` and sums the
writers' reports at ``commit``; :class:`HBaseWriter` (every worker) encodes records into
cells (a record that cannot be stored is dead-lettered with the reason) and sends them in
chunks, one ``mutateRows`` call (a happybase ``Batch``) per chunk, retried with backoff
while the server is unreachable or busy. A chunk the server refuses for a reason of its
own is resent row by row, and the rows it still refuses are dead-lettered with the
server's message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
from collections.abc import Hashable
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.errors import ConfigError, EtlcoreError
from etlcore.plugin.imports import require_module
from etlcore.plugin.redact import RedactedRepr, config_repr
from etlcore.sink import (
    RejectRecord,
    SinkContext,
    UpsertSink,
    UpsertWriter,
    WriterContext,
    WriteResult,
)
from etlcore_hbase.config import MAX_ROW_LENGTH, HBaseSinkConfig, template_fields

log = logging.getLogger("etlcore.hbase")

# Server-side errors worth waiting out: the region moves, the server is starting or busy.
_TRANSIENT_MARKERS = (
    "NotServingRegionException", "RegionTooBusyException", "ServerNotRunningYetException",
    "PleaseHoldException", "CallQueueTooBigException", "RegionOpeningException",
    "CallTimeoutException", "SocketTimeoutException", "ConnectException",
    "RegionMovedException", "RegionServerStoppedException", "MasterNotRunningException",
)
_INT64 = (-(1 << 63), (1 << 63) - 1)


def happybase() -> Any:
    """The happybase module, or an ImportError naming the pip command."""
    return require_module("happybase", "happybase>=1.2", feature="the hbase sink")


def hbase_types() -> Any:
    """The module of happybase's Thrift types (IOError, AlreadyExists, IllegalArgument)."""
    import importlib

    happybase()  # loads the Hbase.thrift IDL, which registers ``Hbase_thrift``
    return importlib.import_module("Hbase_thrift")


def _transport_errors() -> tuple[type[BaseException], ...]:
    from thriftpy2.transport import TTransportException

    return (TTransportException, OSError, EOFError)


def server_message(err: BaseException) -> str:
    """The first line of an HBase Thrift error (its ``message`` is bytes with a Java trace)."""
    message = getattr(err, "message", None)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if not message:
        try:
            message = str(err)
        except Exception:  # thriftpy2 exceptions whose __str__ returns bytes
            message = repr(getattr(err, "args", ""))
    first = str(message).strip().splitlines()[0] if str(message).strip() else ""
    return f"{type(err).__name__}: {first[:500]}"


def is_transient(err: BaseException) -> bool:
    """True for errors a later attempt may not get: no connection, a busy or moving region."""
    if isinstance(err, _transport_errors()):
        return True
    return any(marker in server_message(err) for marker in _TRANSIENT_MARKERS)


def _server_refusal() -> tuple[type[BaseException], ...]:
    """The Thrift exceptions the server raises for a request it will not carry out."""
    from thriftpy2.thrift import TApplicationException, TException

    return (TException, TApplicationException)


def batch_timestamp(batch: BatchInfo) -> int:
    """The cell timestamp of every cell a batch writes: its scheduled time in ms."""
    return int(round(batch.batch_time * 1000))


def _flatten(record: tuple[Any, ...] | list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in record:
        if isinstance(value, tuple):
            out.extend(_flatten(value))
        else:
            out.append(value)
    return out


def _utf8(value: str) -> bytes:
    return value.encode("utf-8")


def _int_text(value: int) -> bytes:
    return str(value).encode()


def _float_text(value: float) -> bytes:
    return repr(value).encode()


_TYPE_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "bytes": lambda v: isinstance(v, (bytes, bytearray, memoryview)),
    "json": lambda v: isinstance(v, (dict, list)),
}


class RowEncoder:
    """Record -> (row key, cells). Plain data: it travels to workers inside the writer."""

    def __init__(self, config: HBaseSinkConfig):
        self.config = config
        self.template = config.row_key
        self.key_fields = template_fields(config.row_key) if config.row_key else []
        self.columns: dict[str, bytes] | None = None
        if config.columns is not None:
            self.columns = {}
            for field, target in config.columns.items():
                family, _, qualifier = target.rpartition(":")
                self.columns[field] = f"{family or config.family}:{qualifier}".encode()
        self.family = config.family.encode()
        self._column_cache: dict[str, bytes] = {}
        # Exact types whose encoding cannot fail, unless a declared type must be checked.
        self._fast: dict[type, Any] = {str: _utf8, bytes: bytes}
        if config.int_encoding == "text":
            self._fast.update({int: _int_text, float: _float_text})

    def view(self, record: Any) -> dict[str, Any]:
        """The record as field -> value."""
        if isinstance(record, dict):
            bad = [k for k in record if not isinstance(k, str)]
            if bad:
                raise RejectRecord(f"field names must be strings, got {bad[0]!r}")
            return record
        if isinstance(record, (tuple, list)) and self.config.fields is not None:
            values = record if tuple not in map(type, record) else _flatten(record)
            if len(values) != len(self.config.fields):
                raise RejectRecord(f"{len(values)} values for {len(self.config.fields)} fields "
                                   f"{self.config.fields}")
            return dict(zip(self.config.fields, values, strict=True))
        raise RejectRecord(f"cannot map a {type(record).__name__} record to columns: give "
                           "dicts, or tuples with the `fields` setting")

    def row_key(self, view: dict[str, Any]) -> bytes:
        assert self.template is not None
        for name in self.key_fields:
            if name not in view:
                raise RejectRecord(f"row key field {name!r} is missing")
            if view[name] is None:
                raise RejectRecord(f"row key field {name!r} is null")
        try:
            text = self.template.format_map(view)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
            raise RejectRecord(f"row key template {self.template!r}: {err}") from None
        return self.check_key(text)

    @staticmethod
    def check_key(text: str) -> bytes:
        try:
            key = text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise RejectRecord(f"row key is not valid UTF-8 text: {err}") from None
        if not key:
            raise RejectRecord("empty row key (HBase: Row length is 0)")
        if len(key) > MAX_ROW_LENGTH:
            raise RejectRecord(f"row key of {len(key)} bytes (HBase: Row length {len(key)} is "
                               f"> {MAX_ROW_LENGTH})")
        return key

    def value(self, field: str, value: Any) -> bytes:
        declared = self.config.types.get(field)
        if declared is not None and not _TYPE_CHECKS[declared](value):
            raise RejectRecord(f"field {field!r}: declared {declared}, got "
                               f"{type(value).__name__} {value!r:.80}")
        long = self.config.int_encoding == "long"
        if isinstance(value, bool):
            return (b"\xff" if value else b"\x00") if long else (b"true" if value else b"false")
        if isinstance(value, int):
            if long:
                if not _INT64[0] <= value <= _INT64[1]:
                    raise RejectRecord(f"field {field!r}: integer beyond 64 bits")
                return struct.pack(">q", value)
            return str(value).encode()
        if isinstance(value, float):
            return struct.pack(">d", value) if long else repr(value).encode()
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError as err:
                raise RejectRecord(f"field {field!r}: not valid UTF-8 text: {err}") from None
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, (dict, list, tuple)):
            try:
                return json.dumps(value, sort_keys=True, separators=(",", ":"),
                                  allow_nan=False, ensure_ascii=False).encode("utf-8")
            except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as err:
                raise RejectRecord(f"field {field!r}: not storable as JSON: {err}") from None
        raise RejectRecord(f"field {field!r}: a {type(value).__name__} cannot be stored (str, "
                           "int, float, bool, bytes, or JSON lists and dicts)")

    def column(self, field: str) -> bytes:
        """``family:field`` for a field ``columns`` does not map (cached per field name)."""
        column = self._column_cache.get(field)
        if column is None:
            column = self.family + b":" + field.encode("utf-8", "surrogatepass")
            if len(self._column_cache) < 10_000:
                self._column_cache[field] = column
        return column

    def cells(self, view: dict[str, Any], key: bytes) -> tuple[dict[bytes, bytes], int]:
        """The record's cells and their size in bytes (key included once per cell)."""
        if self.columns is None:
            cache = self._column_cache
            fields = [(f, v, cache.get(f) or self.column(f)) for f, v in view.items()
                      if v is not None]
        else:
            fields = [(f, view[f], c) for f, c in self.columns.items()
                      if view.get(f) is not None]
        cells: dict[bytes, bytes] = {}
        limit = self.config.max_cell_bytes - len(key)
        fast = self._fast if not self.config.types else {}
        total = 0
        for field, value, column in fields:
            encode = fast.get(type(value))
            try:
                encoded = encode(value) if encode is not None else self.value(field, value)
            except UnicodeEncodeError as err:
                raise RejectRecord(f"field {field!r}: not valid UTF-8 text: {err}") from None
            size = len(column) + len(encoded)
            if size > limit:
                raise RejectRecord(f"field {field!r}: a cell of {size + len(key)} bytes is over "
                                   f"max_cell_bytes {self.config.max_cell_bytes} (HBase: "
                                   "KeyValue size too large)")
            cells[column] = encoded
            total += size
        if not cells:
            raise RejectRecord("nothing to store: every mapped field is missing or null "
                               "(HBase: No columns to insert)")
        return cells, total + len(key) * len(cells)


def connect(config: HBaseSinkConfig) -> Any:
    """An opened happybase connection (raises the transport error when unreachable)."""
    conn = happybase().Connection(config.host, config.port, timeout=int(config.timeout * 1000),
                                  autoconnect=False, transport=config.transport,
                                  protocol=config.protocol)
    conn.open()
    return conn


class HBaseWriter(RedactedRepr, UpsertWriter):
    """Worker side: encodes records into puts and sends them in chunks, retried.

    The commit message is ``{"rows": stored, "retries": attempts that failed}``.
    Pickled without a connection; each worker connects at ``open`` (lazily, so a
    server that is down at that moment only delays the first write).
    """

    def __init__(self, config: HBaseSinkConfig, epoch: str | None = None):
        self.config = config
        self.epoch = epoch
        self.encoder = RowEncoder(config)
        self.chunk_records = config.batch_size
        self.chunk_bytes = config.batch_bytes
        self.retry_on = is_transient
        self.attempts = config.retries
        self.retry_base = 0.2
        self.retry_cap = config.retry_cap
        self.target = f"{config.host}:{config.port}"
        self._conn: Any = None
        self._table: Any = None
        self._pos = 0
        self._rejected: list[tuple[Any, str]] = []
        self._retries = 0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_conn"] = state["_table"] = None  # never ship a socket
        return state

    # ---- connection -------------------------------------------------------------

    def open(self, ctx: WriterContext) -> None:
        if self.epoch is None:
            self.epoch = ctx.epoch
        try:
            self.connect()
        except Exception as err:
            if not is_transient(err):
                raise
            log.warning("hbase sink: %s unreachable at open (%s); the first write retries",
                        self.target, server_message(err))

    def connect(self) -> None:
        self.disconnect()
        self._conn = connect(self.config)
        self._table = self._conn.table(self.config.table)

    def disconnect(self) -> None:
        conn, self._conn, self._table = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a dead socket: nothing to flush
                conn.close()

    # ---- encoding ---------------------------------------------------------------

    def key(self, record: Any) -> Hashable:
        view = self.encoder.view(record)
        if self.encoder.template is not None:
            return self.encoder.row_key(view)
        raise RejectRecord("append mode keys need the record's position (use write)")

    def position_key(self, batch: BatchInfo, partition: int, position: int) -> bytes:
        """Append mode: (checkpoint epoch, batch id, partition, position), sortable."""
        epoch = self.epoch or "noepoch"
        return f"{epoch}:{batch.batch_id:012d}:{partition:05d}:{position:09d}".encode()

    def prepare(self, record: Any) -> tuple[Hashable, Any]:
        position = self._pos
        self._pos += 1
        view = self.encoder.view(record)
        if self.encoder.template is not None:
            key = self.encoder.row_key(view)
        else:
            key = self.position_key(self._batch, self._partition, position)
        cells, nbytes = self.encoder.cells(view, key)
        return key, (cells, record, nbytes)

    def size(self, item: Any) -> int:
        return int(item[1][2])

    # ---- sending ----------------------------------------------------------------

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        self._batch, self._partition, self._pos = batch, partition, 0
        self._rejected, self._retries = [], 0
        result = super().write(batch, partition, records)
        if not self._rejected:
            return result
        if isinstance(result, WriteResult):
            result.rejected.extend(self._rejected)
            return result
        return WriteResult(result, list(self._rejected))

    def message(self, batch: BatchInfo, partition: int, sent: int) -> Any:
        return {"rows": sent - len(self._rejected), "retries": self._retries}

    def _put(self, rows: list[tuple[Any, Any]], timestamp: int) -> None:
        if self._table is None:
            self.connect()
        batch = self._table.batch(timestamp=timestamp)
        put = batch.put
        for key, (cells, _, _) in rows:
            put(key, cells)
        batch.send()

    def upsert(self, rows: list[tuple[Hashable, Any]]) -> None:
        raise NotImplementedError("HBaseWriter stores through send(), which knows the batch")

    def send(self, batch: BatchInfo, partition: int, chunk: list[Any]) -> None:
        timestamp = batch_timestamp(batch)
        try:
            self._put(chunk, timestamp)
            return
        except Exception as err:
            if is_transient(err):
                self._retries += 1
                self.disconnect()  # the next attempt reconnects
                log.warning("hbase sink: %s unreachable or busy (%s); batch %d partition %d "
                            "waits and retries", self.target, server_message(err),
                            batch.batch_id, partition)
                raise
            if not isinstance(err, _server_refusal()):
                raise
            refused = server_message(err)
        # The server refused the chunk: find the rows it refuses, store the others.
        log.info("hbase sink: chunk refused (%s); storing its %d rows one by one", refused,
                 len(chunk))
        rejected = []
        for row in chunk:
            try:
                self._put([row], timestamp)
            except Exception as err:
                if is_transient(err) or not isinstance(err, _server_refusal()):
                    raise
                rejected.append((row[1][1], f"HBase refused the row: {server_message(err)}"))
        self._rejected.extend(rejected)


class HBaseSink(RedactedRepr, UpsertSink):
    """Driver side: checks (or creates) the table, hands out writers, counts retries.

    ``stats`` holds ``batches``, ``rows`` and ``retries`` (failed attempts the writers
    waited out, e.g. while the server was down) of this run.
    """

    def __init__(self, config: HBaseSinkConfig):
        self.config = config
        self.epoch: str | None = None
        self.name = "hbase"
        self.stats = {"batches": 0, "rows": 0, "retries": 0}

    def describe(self) -> dict[str, Any]:
        return {"sink": "hbase", "target": f"{self.config.host}:{self.config.port}",
                "table": self.config.table, "row_key": self.config.row_key or "append mode",
                "config": config_repr(self.config)}

    def open(self, ctx: SinkContext) -> None:
        self.name = ctx.name
        self.epoch = ctx.epoch
        from etlcore.plugin.retry import retry

        retry(self._check_table, attempts=self.config.retries, base=0.2,
              cap=self.config.retry_cap, retry_on=is_transient,
              what=f"hbase sink {ctx.name}: table check at {self.config.host}:{self.config.port}",
              stop=ctx.stop_event)

    def _check_table(self) -> None:
        conn = connect(self.config)
        try:
            hb = hbase_types()
            wanted = self.config.families()
            table = conn.table(self.config.table)
            try:
                existing = sorted(f.decode() for f in table.families())
            except hb.IOError as err:
                if "TableNotFoundException" not in server_message(err):
                    raise
                if not self.config.create_table:
                    raise EtlcoreError(
                        f"hbase sink {self.name}: table {self.config.table!r} does not exist at "
                        f"{self.config.host}:{self.config.port}; create it with the families "
                        f"{wanted}, or set create_table: true") from None
                families = {f: {"max_versions": self.config.max_versions} for f in wanted}
                try:
                    conn.create_table(self.config.table, families)
                    log.info("hbase sink %s: created table %s with families %s", self.name,
                             self.config.table, wanted)
                except hb.AlreadyExists:
                    pass  # another job created it meanwhile
                existing = sorted(f.decode() for f in table.families())
            missing = [f for f in wanted if f not in existing]
            if missing:
                key = "columns" if self.config.columns is not None else "family"
                raise ConfigError(f"{self.name}.{key}", f"column families of table "
                                  f"{self.config.table!r} ({', '.join(existing)})",
                                  missing[0] if len(missing) == 1 else missing)
        finally:
            conn.close()

    def writer(self) -> HBaseWriter:
        return HBaseWriter(self.config, self.epoch)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        rows = sum(m.get("rows", 0) for m in messages if isinstance(m, dict))
        retries = sum(m.get("retries", 0) for m in messages if isinstance(m, dict))
        self.stats["batches"] += 1
        self.stats["rows"] += rows
        self.stats["retries"] += retries
        if retries:
            log.warning("hbase sink %s: batch %d stored %d rows after %d failed attempts "
                        "(HBase at %s:%s was unreachable or busy)", self.name, batch.batch_id,
                        rows, retries, self.config.host, self.config.port)
