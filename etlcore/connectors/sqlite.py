"""SQLite, the embedded default store: rows and the batch id in one transaction.

A table ``_etlcore_commits(sink, batch_id)`` holds the last batch each sink
committed; it is updated in the same transaction as the rows, so a batch the
engine replays after a crash is skipped, which makes ``append`` exactly-once
too (strategy 3 of :mod:`etlcore.sink`).

Sides: SQLite wants one writer, so workers only send their records back
(``CollectWriter``) and the driver writes the batch in one transaction at commit.

Records are dicts (columns by name) or tuples and lists matched positionally
to ``columns`` after nested tuples are flattened, so ``((window_end, tag), count)``
fills three columns. A missing table is created on the first write, typed by
the first record's values, with ``PRIMARY KEY(key)`` when a key is given; new
dict keys add columns when ``columns`` is not set. Lists and dicts inside a
record are stored as JSON text, other unknown types as ``str``.

Encoding happens on the worker (``SqliteWriter``): a record SQLite cannot
store goes back as a dead letter (``WriteResult``) before any sink commits, so
the batch still commits everywhere. That is an integer beyond 64 bits
(``oversize_int``: ``dead_letter`` or ``text``), NaN or Infinity
(``non_finite``: ``dead_letter``, ``null`` or ``store``), text with a lone
surrogate, a value nested too deeply for JSON, a dict key that is not a string
or names the same column as another key (SQLite column names ignore ASCII
case), a tuple whose length is not the column count, and in ``upsert`` mode a
record whose key is missing or null.

    stream.sink("sqlite", path="out.db", table="counts", key=["word"])
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etlcore.batch import BatchInfo
from etlcore.ckptstore import is_remote
from etlcore.config import option
from etlcore.encoding import Unstorable, check_utf8, json_text, safe_repr
from etlcore.errors import ConfigError
from etlcore.sink import SinkContext, SinkWriter, TransactionalSink, WriteResult

_COMMITS = "_etlcore_commits"
_TYPES = {bool: "INTEGER", int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB",
          dict: "TEXT", list: "TEXT"}


@dataclass
class SqliteSinkConfig:
    path: str = option(help="database file (created if missing)")
    table: str = option(help="target table (created on first write if missing)")
    key: list[str] = option([], help="upsert key columns (the table's primary key)")
    columns: list[str] | None = option(None, help="column names; required for tuple records")
    mode: Literal["upsert", "append"] = option("upsert", help="update rows by key, or insert")
    non_finite: Literal["dead_letter", "null", "store"] = option(
        "dead_letter", help="NaN and Infinity: dead-letter the record, store NULL, or store "
        "them (Infinity as REAL; SQLite turns NaN into NULL)")
    oversize_int: Literal["dead_letter", "text"] = option(
        "dead_letter", help="integers beyond 64 bits: dead-letter the record, or store as TEXT")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.path:
            raise ConfigError(f"{prefix}path", "a database file path", self.path)
        if not self.table or "\x00" in self.table:
            raise ConfigError(f"{prefix}table", "a table name (no NUL character)", self.table)
        for name in ("key", "columns"):
            names = getattr(self, name) or []
            if any(not n or "\x00" in n for n in names):
                raise ConfigError(f"{prefix}{name}", "non-empty column names without NUL "
                                  "characters", names)
        if self.mode == "upsert" and not self.key:
            raise ConfigError(f"{prefix}key", "at least one key column for mode 'upsert' "
                              "(or set mode: append)", self.key)
        if len(set(self.key)) != len(self.key):
            raise ConfigError(f"{prefix}key", "distinct column names", self.key)
        if self.columns is not None:
            if len(set(self.columns)) != len(self.columns) or not self.columns:
                raise ConfigError(f"{prefix}columns", "distinct column names", self.columns)
            missing = [k for k in self.key if k not in self.columns]
            if missing:
                raise ConfigError(f"{prefix}key", f"names among columns {self.columns}", self.key)


def quote(name: str) -> str:
    """An SQL identifier, safely quoted."""
    return '"' + name.replace('"', '""') + '"'


def flatten(record: tuple[Any, ...] | list[Any]) -> list[Any]:
    """Nested tuples spread into one row: ``((end, tag), n)`` -> ``[end, tag, n]``."""
    out: list[Any] = []
    for value in record:
        if isinstance(value, tuple):
            out.extend(flatten(value))
        else:
            out.append(value)
    return out


def _adapt(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


_INT64 = (-(1 << 63), (1 << 63) - 1)


def fold(name: str) -> str:
    """A column name as SQLite compares it (ASCII letters case-insensitively)."""
    return name.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


class SqliteWriter(SinkWriter):
    """Encodes each record into a row on the worker; what SQLite cannot store is refused.

    The message is the encoded rows (dicts of column -> value, or flat tuples),
    which the driver stores in one transaction at commit (``SqliteSink.store``).
    """

    def __init__(self, config: SqliteSinkConfig, columns: list[str] | None):
        self.config = config
        self.columns = config.columns or columns  # tuple records need them
        self.key = [] if config.mode == "append" else list(config.key)

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        rows: list[Any] = []
        rejected: list[tuple[Any, str]] = []
        for record in records:
            try:
                rows.append(self.encode(record))
            except Unstorable as err:
                rejected.append((record, err.reason))
        return WriteResult(rows, rejected) if rejected else rows

    def encode(self, record: Any) -> dict[str, Any] | tuple[Any, ...]:
        if isinstance(record, dict):
            return self._dict(record)
        flat = flatten(record) if isinstance(record, (tuple, list)) else [record]
        columns = self.columns
        if columns is None:
            raise ConfigError("columns", "column names for the table, because the records are "
                              f"tuples (first record: {safe_repr(record)[:200]})",
                              has_value=False)
        if len(flat) != len(columns):
            raise Unstorable(f"has {len(flat)} values after flattening, but the columns are "
                             f"{columns}")
        row = tuple(self._value(v, c) for v, c in zip(flat, columns, strict=True))
        for k in self.key:
            if row[columns.index(k)] is None:
                raise Unstorable(f"key column '{k}' is null (mode upsert)")
        return row

    def _dict(self, record: dict[Any, Any]) -> dict[str, Any]:
        if self.config.columns:
            out = {c: self._value(record.get(c), c) for c in self.config.columns}
        else:
            out = {}
            seen: dict[str, str] = {}
            for k, v in record.items():
                if not isinstance(k, str):
                    raise Unstorable(f"column name {safe_repr(k)[:100]} is not a string")
                check_utf8(k, "a column name")
                if not k or "\x00" in k:
                    raise Unstorable(f"column name {k!r} is empty or holds a NUL character")
                other = seen.setdefault(fold(k), k)
                if other != k:
                    raise Unstorable(f"keys '{other}' and '{k}' name the same SQLite column "
                                     "(column names ignore case)")
                out[k] = self._value(v, k)
        for k in self.key:
            if out.get(k) is None:
                raise Unstorable(f"key column '{k}' is missing or null (mode upsert)")
        return out

    def _value(self, v: Any, column: str) -> Any:
        if v is None or isinstance(v, (bool, bytes)):
            return v
        if isinstance(v, int):
            if _INT64[0] <= v <= _INT64[1]:
                return v
            if self.config.oversize_int == "text":
                try:
                    return str(v)
                except ValueError as err:  # more digits than int->str allows
                    raise Unstorable(f"column '{column}': {err}") from None
            raise Unstorable(f"column '{column}': integer of {v.bit_length()} bits does not fit "
                             "SQLite's 64-bit INTEGER (oversize_int: dead_letter; 'text' "
                             "stores it as text)")
        if isinstance(v, float):
            if math.isfinite(v) or self.config.non_finite == "store":
                return v
            if self.config.non_finite == "null":
                return None
            raise Unstorable(f"column '{column}': {v!r} (non_finite: dead_letter; null or "
                             "store keeps the record)")
        if isinstance(v, str):
            return check_utf8(v, f"column '{column}'")
        if isinstance(v, (bytearray, memoryview)):
            return bytes(v)
        if isinstance(v, (dict, list, tuple)):
            policy = {"store": "string"}.get(self.config.non_finite, self.config.non_finite)
            try:
                text = json_text(v, policy)  # type: ignore[arg-type]
            except Unstorable as err:
                raise Unstorable(f"column '{column}': {err.reason}") from None
            return check_utf8(text, f"column '{column}'")
        try:
            text = str(v)
        except Exception as err:  # noqa: BLE001 - a value's own __str__ failed
            raise Unstorable(f"column '{column}': str() failed: {type(err).__name__}") from None
        return check_utf8(text, f"column '{column}'")


class SqliteSink(TransactionalSink):
    """Upserts or appends each batch to one table, exactly once per batch id."""

    def __init__(self, config: SqliteSinkConfig):
        self.config = config
        self.table = quote(config.table)
        self.conn: sqlite3.Connection | None = None
        self.sink_id: str | None = None  # the row in _etlcore_commits; None: no checkpoint
        self._columns: list[str] | None = None  # the table's columns once it exists
        self._key_checked = False
        self._lock = threading.Lock()

    def open(self, ctx: SinkContext) -> None:
        Path(self.config.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.config.path, isolation_level=None, timeout=30.0,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a commit the engine counts must survive
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_COMMITS} "
                     "(sink TEXT PRIMARY KEY, batch_id INTEGER)")
        self.conn = conn
        self.sink_id = self._sink_id(ctx)
        self._columns = self._table_columns()

    @staticmethod
    def _sink_id(ctx: SinkContext) -> str | None:
        """Job, sink and the checkpoint's epoch, so a new checkpoint starts afresh.

        Without a checkpoint nothing is replayed and batch ids restart at 0 on every
        run, so the sink neither checks nor records them. Checkpoints written before
        ``ctx.epoch`` existed keep the token this sink stored in them.
        """
        if ctx.checkpoint_dir is None:
            return None
        legacy = Path(ctx.checkpoint_dir) / "sinks" / f"{ctx.name}.json"
        token = (json.loads(legacy.read_text())["token"]
                 if not is_remote(ctx.checkpoint_dir) and legacy.exists() else ctx.epoch)
        return f"{ctx.job_name}/{ctx.name}/{token}"

    def writer(self) -> SinkWriter:
        """Encodes on workers; knows the table's columns as they are now (for tuples)."""
        return SqliteWriter(self.config, list(self._columns) if self._columns else None)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- TransactionalSink --------------------------------------------------------
    def last_committed_batch(self) -> int | None:
        if self.sink_id is None:
            return None
        with self._lock:
            row = self._db().execute(f"SELECT batch_id FROM {_COMMITS} WHERE sink = ?",
                                     (self.sink_id,)).fetchone()
        return None if row is None else int(row[0])

    def write_batch(self, batch: BatchInfo, records: list[Any]) -> None:
        conn = self._db()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for columns, rows in self._groups(records):
                    conn.executemany(self._insert_sql(columns), rows)
                if self.sink_id is not None:
                    conn.execute(f"INSERT INTO {_COMMITS} (sink, batch_id) VALUES (?, ?) "
                                 "ON CONFLICT (sink) DO UPDATE SET batch_id = excluded.batch_id",
                                 (self.sink_id, batch.batch_id))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._columns = self._table_columns()  # DDL rolled back too
                self._key_checked = False
                raise

    # -- rows and schema -------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self.conn is None:
            raise RuntimeError("sqlite sink used before open() or after close()")
        return self.conn

    def _table_columns(self) -> list[str] | None:
        info = self._db().execute(f"PRAGMA table_info({self.table})").fetchall()
        return [row[1] for row in info] or None

    def _groups(self, records: list[Any]) -> list[tuple[list[str], list[list[Any]]]]:
        """Column names and rows for each run of dict or tuple rows, in record order."""
        out = []
        start = 0
        for i in range(1, len(records) + 1):
            if i == len(records) or isinstance(records[i], dict) != isinstance(records[start],
                                                                               dict):
                out.append(self._rows(records[start:i]))
                start = i
        return out

    def _rows(self, records: list[Any]) -> tuple[list[str], list[list[Any]]]:
        """Column names and one row per record; creates or widens the table as needed.

        Records come from ``SqliteWriter.encode`` (values already adapted) or, in
        direct use, as the caller gives them (adapted here).
        """
        if isinstance(records[0], dict):
            return self._dict_rows(records)
        flat = [flatten(r) if isinstance(r, (tuple, list)) else [r] for r in records]
        columns = self.config.columns or self._columns
        if columns is None:
            raise ConfigError("columns", "column names for the table, because the records are "
                              f"tuples (first record: {records[0]!r})", has_value=False)
        for r, row in zip(records, flat, strict=True):
            if len(row) != len(columns):
                raise ValueError(f"sqlite sink: record {r!r} has {len(row)} values after "
                                 f"flattening, but columns are {columns}")
        self._ensure_table(columns, flat[0])
        return columns, [[_adapt(v) for v in row] for row in flat]

    def _dict_rows(self, records: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
        """Dict records as rows; keys that differ only in ASCII case share one column."""
        names = self.config.columns or list(dict.fromkeys(k for r in records for k in r))
        canon = {fold(c): c for c in self._columns or []}
        columns = list(dict.fromkeys(canon.setdefault(fold(n), n) for n in names))
        index = {fold(c): i for i, c in enumerate(columns)}
        rows = []
        for r in records:
            row: list[Any] = [None] * len(columns)
            for k, v in r.items():
                i = index.get(fold(k))
                if i is not None:
                    row[i] = _adapt(v)
            rows.append(row)
        self._ensure_table(columns, rows[0])
        return columns, rows

    def _ensure_table(self, columns: list[str], sample: list[Any]) -> None:
        """Create the table typed by a sample row, or add the columns it lacks."""
        types = {c: _TYPES.get(type(v), "") for c, v in zip(columns, sample, strict=True)}
        conn = self._db()
        if self._columns is None:
            missing_key = [k for k in self.config.key if k not in columns]
            if missing_key:
                raise ValueError(f"sqlite sink: key columns {missing_key} are not in the "
                                 f"records' columns {columns}")
            defs = [f"{quote(c)} {types[c]}".rstrip() for c in columns]
            if self.config.key:
                defs.append(f"PRIMARY KEY ({', '.join(quote(k) for k in self.config.key)})")
            conn.execute(f"CREATE TABLE {self.table} ({', '.join(defs)})")
            self._columns = list(columns)
        elif not self._key_checked and self.config.mode == "upsert":
            # a table made elsewhere may lack the unique key an upsert conflicts on
            keys = ", ".join(quote(k) for k in self.config.key)
            index = quote(f"{self.config.table}__etlcore_key")
            conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {self.table} ({keys})")
        self._key_checked = True
        have = {fold(c) for c in self._columns}
        for c in columns:
            if fold(c) not in have:
                conn.execute(f"ALTER TABLE {self.table} ADD COLUMN {quote(c)} {types[c]}".rstrip())
                self._columns.append(c)

    def _insert_sql(self, columns: list[str]) -> str:
        names = ", ".join(quote(c) for c in columns)
        sql = f"INSERT INTO {self.table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
        if self.config.mode == "append":
            return sql
        keys = ", ".join(quote(k) for k in self.config.key)
        updates = [f"{quote(c)} = excluded.{quote(c)}" for c in columns
                   if c not in self.config.key]
        action = f"UPDATE SET {', '.join(updates)}" if updates else "NOTHING"
        return f"{sql} ON CONFLICT ({keys}) DO {action}"
