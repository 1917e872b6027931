"""BufferingWriter (chunks, retries, rejects) and an upsert sink built on UpsertWriter."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from etlcore import BatchInfo, StreamingContext
from etlcore.config import option
from etlcore.contract import SinkContract, Target
from etlcore.errors import ConfigError
from etlcore.sink import BufferingWriter, RejectRecord, Sink, UpsertSink, UpsertWriter, WriteResult


class ListWriter(BufferingWriter):
    def __init__(self, chunk_records: int = 500, chunk_bytes: int | None = None,
                 failures: int = 0):
        self.chunk_records = chunk_records
        self.chunk_bytes = chunk_bytes
        self.failures = failures
        self.retry_on = ConnectionError
        self.retry_base = 0.0
        self.sent: list[list[Any]] = []

    def prepare(self, record: Any) -> Any:
        if record is None:
            raise RejectRecord("null record")
        return str(record)

    def send(self, batch: BatchInfo, partition: int, chunk: list[Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("busy")
        self.sent.append(chunk)


B = BatchInfo(0, 1.0)


def test_chunks_by_count():
    w = ListWriter(chunk_records=3)
    assert w.write(B, 0, list(range(7))) == 7
    assert w.sent == [["0", "1", "2"], ["3", "4", "5"], ["6"]]
    assert w.write(B, 1, []) == 0 and len(w.sent) == 3


def test_chunks_by_bytes_and_an_oversized_item_goes_alone():
    w = ListWriter(chunk_bytes=5)
    w.write(B, 0, ["aa", "bb", "c", "dddddddd", "e"])
    assert w.sent == [["aa", "bb", "c"], ["dddddddd"], ["e"]]


def test_rejected_records_come_back_with_the_message():
    w = ListWriter()
    result = w.write(B, 0, [1, None, 2])
    assert isinstance(result, WriteResult)
    assert result.message == 2 and result.rejected == [(None, "null record")]


def test_transient_send_errors_are_retried():
    w = ListWriter(chunk_records=2, failures=2)
    assert w.write(B, 0, [1, 2, 3]) == 3
    assert w.sent == [["1", "2"], ["3"]]
    w = ListWriter(failures=99)
    w.attempts = 3
    with pytest.raises(ConnectionError):
        w.write(B, 0, [1])


# -- an upsert sink: a SQLite key-value table written by every worker ----------------------

@dataclass
class KvConfig:
    path: str = option(help="database file")
    chunk_size: int = option(2, help="rows per upsert call")

    def validate(self, where: str) -> None:
        if self.chunk_size < 1:
            raise ConfigError(f"{where}.chunk_size", "a positive integer", self.chunk_size)


class KvWriter(UpsertWriter):
    def __init__(self, config: KvConfig):
        self.config = config
        self.chunk_records = config.chunk_size
        self.conn: sqlite3.Connection | None = None

    def connect(self) -> None:
        self.conn = sqlite3.connect(self.config.path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)")

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def key(self, record: Any) -> str:
        if not isinstance(record, dict) or "id" not in record:
            raise RejectRecord("no 'id' field")
        return str(record["id"])

    def upsert(self, rows: list[tuple[Any, Any]]) -> None:
        assert self.conn is not None
        self.conn.executemany("INSERT INTO kv VALUES (?, ?) ON CONFLICT (k) DO UPDATE "
                              "SET v = excluded.v", [(k, str(r.get("v"))) for k, r in rows])


class KvSink(UpsertSink):
    def __init__(self, config: KvConfig):
        self.config = config

    def open(self, ctx: Any) -> None:
        """The database and its table, made once on the driver: two worker processes
        switching a new file to WAL at once made one fail with "database is locked"
        (sqlite does not wait out a lock to change the journal mode)."""
        prepared = KvWriter(self.config)
        prepared.connect()
        prepared.disconnect()

    def writer(self) -> KvWriter:
        return KvWriter(self.config)


def kv_rows(path: str) -> list[tuple[str, str]]:
    if not Path(path).exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT k, v FROM kv ORDER BY k").fetchall()


def test_the_last_record_per_key_wins_within_a_partition(tmp_path):
    w = KvWriter(KvConfig(str(tmp_path / "kv.db"), chunk_size=10))
    w.open(None)  # type: ignore[arg-type]
    w.write(B, 0, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 1, "v": "c"}])
    w.close()
    assert kv_rows(str(tmp_path / "kv.db")) == [("1", "c"), ("2", "b")]


class TestKvUpsertSink(SinkContract):
    connector_class = KvSink
    config_class = KvConfig

    def config(self, path: Path) -> dict[str, Any]:
        return {"path": str(path / "kv.db")}

    def sample_records(self) -> list[Any]:
        return [{"id": i % 5, "v": f"v{i}"} for i in range(5)] + [{"id": 1, "v": "last"}]

    def sample_batches(self) -> list[list[Any]]:
        records = self.sample_records()
        return [records[:5], records[5:]]  # a key repeats only across batches

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        return kv_rows(target.config["path"])

    def bad_records(self) -> list[Any]:
        return [{"v": "no id"}, "not a dict"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"chunk_size": 0}, "chunk_size")]


def test_upsert_writers_run_in_worker_processes(tmp_path):
    """Writers ship to worker processes and connect there; replays rewrite the same keys."""
    db = str(tmp_path / "kv.db")
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", runner="processes",
                           workers=2)
    ctx.source("generator", kind="tweets", rate=40, partitions=2, limit=30).map(
        lambda t: {"id": t["id"] % 25, "v": t["id"]}).key_by(lambda r: r["id"]).map(
        lambda kv: kv[1]).to(KvSink(KvConfig(db, chunk_size=7)), name="kv")
    ctx.run(until_idle=True)
    assert [k for k, _ in kv_rows(db)] == sorted(str(i) for i in range(25))
