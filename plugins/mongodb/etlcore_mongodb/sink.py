"""The ``mongodb`` sink: idempotent upserts by a deterministic ``_id`` (exactly-once strategy 1).

Every record becomes ``ReplaceOne({_id: key}, doc, upsert=True)`` (or ``UpdateOne`` with
``$set``), sent with ``bulk_write(ordered=False)`` in chunks. The ``_id`` comes from the
record alone (``key`` fields), or for append-only streams from the record's position
``<checkpoint epoch>/<batch id>/<partition>/<index>`` (the index counts the partition's
records that were not dead-lettered before sending); the only time ever written is the
batch's scheduled time. So a replayed batch writes the same documents under the same ids,
and converges.

Record by record:

- a record that cannot be encoded (a missing or null key field, a type other than
  ``types`` declares, NaN, an integer beyond 64 bits, a document over
  ``max_document_bytes``) is dead-lettered before anything is sent;
- a record the server refuses (a duplicate of a unique index, a field name it rejects) is
  dead-lettered with the server's message, from the ``BulkWriteError`` details; the other
  operations of the chunk are stored (``ordered=False``);
- transient errors (the server unreachable, a socket timeout, a write-concern error, a
  shutdown in progress) retry what is not yet stored, with backoff; each one is logged as a
  warning and counted in :data:`STATS`.

FerretDB v1 answers an ``update`` command in which one update fails without the counts
pymongo needs (``bulk_write`` raises ``KeyError('nModified')``) and stops at that update
despite ``ordered=False``. The writer then cannot tell which operations were stored, so it
writes that chunk's remaining operations one at a time, where each error names its record.
Upserts are idempotent, so writing a stored one again changes nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Hashable
from typing import Any

from etlcore import metrics
from etlcore.batch import BatchInfo
from etlcore.encoding import safe_repr
from etlcore.plugin.imports import require_module
from etlcore.plugin.redact import RedactedRepr, redact, redacted_errors
from etlcore.sink import (
    RejectRecord,
    SinkContext,
    UpsertSink,
    UpsertWriter,
    WriterContext,
    WriteResult,
)
from etlcore_mongodb.config import MongoSinkConfig

log = logging.getLogger("etlcore.mongodb")

#: counters of this process's mongodb writers: ``transient_errors``, ``retried_chunks``,
#: ``one_by_one_chunks``, ``refused`` (records the server refused), ``rejected`` (before send)
STATS: collections.Counter[str] = collections.Counter()
_stats_lock = threading.Lock()

#: server error codes that mean "try again" rather than "this record is wrong"
TRANSIENT_CODES = frozenset({
    6, 7, 50, 64, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
})
DUPLICATE_KEY = 11000
_PENDING, _DONE = 0, 1


def pymongo() -> Any:
    return require_module("pymongo", "pymongo>=4", feature="the mongodb sink")


def _bson() -> Any:
    return require_module("bson", "pymongo>=4", feature="the mongodb sink")


def count(name: str, n: int = 1) -> None:
    with _stats_lock:
        STATS[name] += n
    metrics.count(f"mongodb.{name}", n)  # the batch's metrics, from any runner


class TransientWriteError(Exception):
    """Some operations of a chunk failed transiently; ``send`` is retried for those only."""


class _Row:
    """One prepared operation: the record (for the dead letters) and its encoded document."""

    __slots__ = ("doc", "record", "state")

    def __init__(self, record: Any, doc: Any):
        self.record = record
        self.doc = doc
        self.state = _PENDING


def flatten(value: Any) -> list[Any]:
    """A tuple record spread into fields: ``((end, tag), n)`` -> ``[end, tag, n]``."""
    out: list[Any] = []
    for v in value:
        if isinstance(v, tuple):
            out.extend(flatten(v))
        else:
            out.append(v)
    return out


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, float)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    expected = {"str": str, "bool": bool, "bytes": (bytes, bytearray), "list": (list, tuple),
                "dict": dict, "datetime": dt.datetime}[kind]
    return isinstance(value, expected)


def _non_finite(values: Any) -> bool:
    """Whether NaN or an infinity is among ``values`` (nested lists and dicts included)."""
    for v in values:
        if isinstance(v, float):
            if not math.isfinite(v):
                return True
        elif isinstance(v, dict):
            if _non_finite(v.values()):
                return True
        elif isinstance(v, (list, tuple)) and _non_finite(v):
            return True
    return False


def server_reason(error: dict[str, Any]) -> str:
    """A dead letter's reason from one ``writeErrors`` entry (or a WriteError's details)."""
    return f"mongodb refused the record: {error.get('errmsg', '?')} (code {error.get('code')})"


def is_transient(error: dict[str, Any]) -> bool:
    """Whether a per-operation server error is worth retrying.

    A duplicate key on ``_id`` is the race of two upserts of one new ``_id`` (MongoDB
    documents it): the retry matches the stored document. A duplicate of any other unique
    index is the record's fault.
    """
    code = error.get("code")
    if code == DUPLICATE_KEY:
        pattern = error.get("keyPattern") or {}
        return list(pattern) == ["_id"] or "index: _id_ " in str(error.get("errmsg", ""))
    return code in TRANSIENT_CODES


class MongoWriter(RedactedRepr, UpsertWriter):
    """Worker side: encodes records to BSON, upserts them in chunks. Pickled without a client."""

    def __init__(self, config: MongoSinkConfig, job_name: str = "", epoch: str | None = None):
        self.config = config
        self.job_name = job_name
        self.chunk_records = config.chunk_records
        self.attempts = config.max_retries + 1
        self.retry_base = 0.2
        self.retry_cap = config.retry_backoff_max
        self.client: Any = None
        self.collection: Any = None
        self._ops: Any = None  # ReplaceOne or UpdateOne, once connected
        self._raw: Any = None  # bson's encode and RawBSONDocument, once connected
        self.epoch = epoch  # the driver's read of the checkpoint's epoch
        self._position: list[Any] = [None, 0, 0]  # batch, partition, index of the next record
        self._refused: list[tuple[Any, str]] = []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(client=None, collection=None, _refused=[], _ops=None, _raw=None)
        state.pop("retry_on", None)
        return state

    # -- connection ---------------------------------------------------------------------
    def open(self, ctx: WriterContext) -> None:
        if self.epoch is None:  # a writer built before the sink was opened
            self.epoch = ctx.epoch
        self.job_name = self.job_name or ctx.job_name
        super().open(ctx)

    def connect(self) -> None:
        pm, bson = pymongo(), _bson()
        errors = pm.errors
        self._ops = pm.UpdateOne if self.config.operation == "update" else pm.ReplaceOne
        self._raw = (bson.encode, bson.raw_bson.RawBSONDocument,
                     (bson.errors.InvalidDocument, OverflowError, TypeError, ValueError))
        self.retry_on = (errors.ConnectionFailure, errors.WTimeoutError,
                         errors.ExecutionTimeout, TransientWriteError)
        self.client = connect(self.config)
        wc = pm.WriteConcern(**self.config.write_concern)
        self.collection = self.client[self.config.database].get_collection(
            self.config.collection, write_concern=wc)

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = self.collection = None

    # -- encoding -----------------------------------------------------------------------
    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        if self.collection is None:
            raise RuntimeError("mongodb writer: write before open")
        self._position = [batch, partition, 0]
        self._refused = []
        result = super().write(batch, partition, records)
        if not self._refused:
            return result
        if isinstance(result, WriteResult):
            return WriteResult(result.message, result.rejected + self._refused)
        return WriteResult(result, list(self._refused))

    def document(self, record: Any) -> dict[str, Any]:
        if isinstance(record, dict):
            return dict(record)
        values = flatten(record) if isinstance(record, tuple) else [record]
        names = self.config.fields
        if names is None:
            raise RejectRecord(f"a {type(record).__name__} record needs `fields` (names for its "
                               "values); only dict records are stored without them")
        if len(values) != len(names):
            raise RejectRecord(f"{len(values)} values for {len(names)} fields {names}")
        return dict(zip(names, values, strict=True))

    def key(self, record: Any) -> Hashable:
        """The ``_id`` of a record with ``key`` fields (positional ids come from ``write``)."""
        return _freeze(self._key_of(self.document(record)))

    def prepare(self, record: Any) -> tuple[Hashable, _Row]:
        batch, partition, index = self._position  # index: among the records accepted so far
        doc = self.document(record)
        if any(not isinstance(k, str) for k in doc):
            raise RejectRecord("field names must be strings: "
                               f"{[k for k in doc if not isinstance(k, str)][:3]}")
        if self.config.key:
            _id = self._key_of(doc)
        else:
            _id = f"{self.epoch or self.job_name}/{batch.batch_id}/{partition}/{index}"
        doc.pop("_id", None)
        bad = [k for k in doc if k.startswith("$")]
        if bad:
            raise RejectRecord(f"field names must not start with '$': {bad[:3]}")
        for field, kind in self.config.types.items():
            if field in doc and not _type_ok(kind, doc[field]):
                raise RejectRecord(f"field {field!r} must be {kind}, got "
                                   f"{type(doc[field]).__name__} {safe_repr(doc[field])[:80]}")
        if self.config.timestamp_field:
            doc[self.config.timestamp_field] = dt.datetime.fromtimestamp(batch.batch_time,
                                                                         dt.timezone.utc)
        if self.config.non_finite == "dead_letter" and _non_finite(doc.values()):
            raise RejectRecord("NaN or Infinity in the record (non_finite: dead_letter)")
        row = _Row(record, self._encode(doc))
        self._position[2] = index + 1  # a record rejected above takes no position
        return _freeze(_id), row

    def _key_of(self, doc: dict[str, Any]) -> Any:
        names = self.config.key
        for name in names:
            value = doc.get(name)
            if value is None:
                raise RejectRecord(f"key field {name!r} is missing or null")
            if isinstance(value, (list, tuple, set)):
                raise RejectRecord(f"key field {name!r} is a {type(value).__name__}: "
                                   "an _id cannot be an array")
        if self.config.id_format == "string":
            values = [doc[name] for name in names]
            if len(values) == 1 and type(values[0]) is int:  # noqa: E721 - not bool
                return str(values[0])  # its JSON text
            try:
                return json.dumps(values[0] if len(values) == 1 else values, ensure_ascii=False,
                                  separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as err:
                raise RejectRecord(f"key {values!r} has no JSON text for a string _id "
                                   f"(id_format: string): {err}") from None
        if len(names) == 1:
            return doc[names[0]]
        return {name: doc[name] for name in names}

    def _encode(self, doc: dict[str, Any]) -> Any:
        encode, raw, failures = self._raw
        try:
            data = encode(doc)
        except failures as err:
            raise RejectRecord(f"not storable as BSON: {err}") from None
        if len(data) > self.config.max_document_bytes:
            raise RejectRecord(f"document of {len(data)} bytes exceeds max_document_bytes "
                               f"({self.config.max_document_bytes})")
        return raw(data)

    def combine(self, items: list[Any]) -> list[Any]:
        combined = super().combine(items)
        return [(_thaw(k), row) for k, row in combined]

    # -- storing ------------------------------------------------------------------------
    def _operation(self, _id: Any, row: _Row) -> Any:
        if self.config.operation == "update":
            return self._ops({"_id": _id}, {"$set": row.doc}, upsert=True)
        return self._ops({"_id": _id}, row.doc, upsert=True)

    def upsert(self, rows: list[tuple[Hashable, Any]]) -> None:
        pending = [(k, row) for k, row in rows if row.state == _PENDING]
        if not pending:
            return
        if len(rows) != len(pending):
            count("retried_chunks")
        errors = pymongo().errors
        try:
            with redacted_errors(self.config, "mongodb sink"):
                self.collection.bulk_write([self._operation(k, r) for k, r in pending],
                                           ordered=False)
        except errors.BulkWriteError as err:
            self._settle(pending, err.details)
        except (KeyError, TypeError) as err:
            # FerretDB v1: a failed update leaves counts out of the reply, and stops there
            log.debug("mongodb sink: unusable bulk_write reply (%s: %s); writing the chunk "
                      "one operation at a time", type(err).__name__, err)
            count("one_by_one_chunks")
            try:
                self._one_by_one(pending)
            except errors.ConnectionFailure as err2:
                self._transient(f"server unreachable: {err2}")
                raise
        except errors.ConnectionFailure as err:
            self._transient(f"server unreachable: {err}")
            raise
        else:
            for _, row in pending:
                row.state = _DONE
        left = sum(row.state == _PENDING for _, row in pending)
        if left:
            self._transient(f"{left} of {len(pending)} operations failed transiently")
            raise TransientWriteError(f"{left} operations to retry")

    def _settle(self, pending: list[tuple[Any, _Row]], details: dict[str, Any]) -> None:
        failed = {}
        for error in details.get("writeErrors", []):
            index = error.get("index")
            if isinstance(index, int) and 0 <= index < len(pending):
                failed[index] = error
        concern = bool(details.get("writeConcernErrors"))
        for i, (_, row) in enumerate(pending):
            error = failed.get(i)
            if error is None:
                row.state = _PENDING if concern else _DONE  # not durable yet: write again
            elif is_transient(error):
                row.state = _PENDING
            else:
                self._refuse(row, error)

    def _one_by_one(self, pending: list[tuple[Any, _Row]]) -> None:
        errors = pymongo().errors
        for _id, row in pending:
            op = self._operation(_id, row)
            try:
                with redacted_errors(self.config, "mongodb sink"):
                    self.collection.bulk_write([op], ordered=False)
            except errors.BulkWriteError as err:
                self._settle([(_id, row)], err.details)
            except (KeyError, TypeError):
                self._single(_id, row)
            else:
                row.state = _DONE

    def _single(self, _id: Any, row: _Row) -> None:
        errors = pymongo().errors
        try:
            with redacted_errors(self.config, "mongodb sink"):
                if self.config.operation == "update":
                    self.collection.update_one({"_id": _id}, {"$set": row.doc}, upsert=True)
                else:
                    self.collection.replace_one({"_id": _id}, row.doc, upsert=True)
        except errors.WriteError as err:
            details = err.details or {"code": err.code, "errmsg": str(err)}
            if is_transient(details):
                return  # stays pending: retried with the chunk
            self._refuse(row, details)
        else:
            row.state = _DONE

    def _refuse(self, row: _Row, error: dict[str, Any]) -> None:
        row.state = _DONE
        count("refused")
        self._refused.append((row.record, redact(server_reason(error), self.config)))

    def _transient(self, what: str) -> None:
        count("transient_errors")
        log.warning("mongodb sink %s.%s: %s; retrying with backoff", self.config.database,
                    self.config.collection, redact(what, self.config))


def _freeze(value: Any) -> Hashable:
    """A hashable form of an _id (a dict of key fields), for the last-wins dedup."""
    if isinstance(value, dict):
        return ("__etlcore_dict__", tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("__etlcore_list__", tuple(_freeze(v) for v in value))
    if isinstance(value, (bytearray,)):
        return bytes(value)
    try:
        hash(value)
    except TypeError:
        return ("__etlcore_repr__", repr(value))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__etlcore_dict__":
        return {k: _thaw(v) for k, v in value[1]}
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__etlcore_list__":
        return [_thaw(v) for v in value[1]]
    return value


def connect(config: MongoSinkConfig) -> Any:
    """A MongoClient from ``config`` (lazy: it connects on the first operation)."""
    pm = pymongo()
    kwargs: dict[str, Any] = {"serverSelectionTimeoutMS": config.timeout_ms,
                              "connectTimeoutMS": config.timeout_ms,
                              "socketTimeoutMS": config.socket_timeout_ms,
                              "appname": "etlcore"}
    if config.username is not None:
        kwargs["username"] = config.username
    if config.password is not None:
        kwargs["password"] = config.password
    with redacted_errors(config, "mongodb sink"):
        return pm.MongoClient(config.uri, **kwargs)


class MongoSink(RedactedRepr, UpsertSink):
    """Driver side: creates the unique indexes asked for; writers store directly."""

    def __init__(self, config: MongoSinkConfig):
        self.config = config
        self.job_name = ""
        self.epoch: str | None = None

    def open(self, ctx: SinkContext) -> None:
        self.job_name = ctx.job_name
        self.epoch = ctx.epoch  # read once here; writers may not see the checkpoint
        if not self.config.unique_indexes:
            return
        pm = pymongo()
        client = connect(self.config)
        try:
            coll = client[self.config.database][self.config.collection]
            for fields in self.config.unique_indexes:
                with redacted_errors(self.config, "mongodb sink"):
                    coll.create_index([(f, pm.ASCENDING) for f in fields], unique=True,
                                      name="etlcore_unique_" + "_".join(fields))
        finally:
            client.close()

    def writer(self) -> MongoWriter:
        return MongoWriter(self.config, self.job_name, self.epoch)

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {"sink": "mongodb", "uri": c.uri, "database": c.database,
                "collection": c.collection, "key": c.key or "position",
                "operation": c.operation, "write_concern": c.write_concern}
