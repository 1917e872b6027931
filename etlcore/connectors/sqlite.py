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

    stream.sink("sqlite", path="out.db", table="counts", key=["word"])
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etlcore.batch import BatchInfo
from etlcore.checkpoint import atomic_write
from etlcore.config import option
from etlcore.errors import ConfigError
from etlcore.sink import SinkContext, TransactionalSink

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

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.path:
            raise ConfigError(f"{prefix}path", "a database file path", self.path)
        if not self.table:
            raise ConfigError(f"{prefix}table", "a table name", self.table)
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
        """Job, sink and a token kept in the checkpoint, so a new checkpoint starts afresh.

        Without a checkpoint nothing is replayed and batch ids restart at 0 on every
        run, so the sink neither checks nor records them.
        """
        if ctx.checkpoint_dir is None:
            return None
        path = ctx.checkpoint_dir / "sinks" / f"{ctx.name}.json"
        if path.exists():
            token = json.loads(path.read_text())["token"]
        else:
            token = uuid.uuid4().hex
            atomic_write(path, json.dumps({"token": token}).encode())
        return f"{ctx.job_name}/{ctx.name}/{token}"

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
                if records:
                    columns, rows = self._rows(records)
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

    def _rows(self, records: list[Any]) -> tuple[list[str], list[list[Any]]]:
        """Column names and one row per record; creates or widens the table as needed."""
        if isinstance(records[0], dict):
            columns = self.config.columns or list(
                dict.fromkeys(k for r in records if isinstance(r, dict) for k in r)
            )
            self._ensure_table(columns, [records[0].get(c) for c in columns])
            return columns, [self._dict_row(r, columns) for r in records]
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

    def _dict_row(self, record: Any, columns: list[str]) -> list[Any]:
        if not isinstance(record, dict):
            raise ValueError(f"sqlite sink: expected a dict like the batch's first record, "
                             f"got {record!r}")
        return [_adapt(record.get(c)) for c in columns]

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
        for c in columns:
            if c not in self._columns:
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
