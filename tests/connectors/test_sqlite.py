"""The sqlite sink on a real database: upsert, append, replayed batches skipped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from etlcore import BatchInfo, ConfigError, StreamingContext
from etlcore.connectors.sqlite import SqliteSink
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext, WriteResult

from .protocol import PICKLERS, open_writer, write, write_and_commit


def build(db: Path, checkpoint: Path | None = None, **config) -> SqliteSink:
    sink = get_registry().get("sink", "sqlite").build({"path": str(db), **config})
    sink.open(SinkContext("sqlite", "job", checkpoint))
    return sink


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_upsert_keeps_the_latest_value_per_key(tmp_path):
    db = tmp_path / "out.db"
    ctx = StreamingContext(1.0, clock="manual")
    ctx.queue_stream([[("a", 1), ("b", 2)], [("a", 5)], [("c", 1), ("b", 7)]]).sink(
        "sqlite", path=str(db), table="counts", key=["word"], columns=["word", "n"])
    ctx.run(until_idle=True)
    assert rows(db, "SELECT word, n FROM counts ORDER BY word") == [("a", 5), ("b", 7), ("c", 1)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    schema = rows(db, "SELECT sql FROM sqlite_master WHERE name = 'counts'")[0][0]
    assert 'PRIMARY KEY ("word")' in schema


def test_nested_tuples_are_flattened_into_columns(tmp_path):
    db = tmp_path / "out.db"
    sink = build(db, table="trending", key=["window_end", "tag"],
                 columns=["window_end", "tag", "count"])
    write_and_commit(sink, BatchInfo(0, 1.0), [[((10.0, "#ai"), 3), ((10.0, "#rust"), 1)],
                                               [((20.0, "#ai"), 2)]])
    assert rows(db, "SELECT * FROM trending ORDER BY window_end, tag") == [
        (10.0, "#ai", 3), (10.0, "#rust", 1), (20.0, "#ai", 2)]
    types = {r[1]: r[2] for r in rows(db, "PRAGMA table_info(trending)")}
    assert types == {"window_end": "REAL", "tag": "TEXT", "count": "INTEGER"}


def test_append_of_dict_records_end_to_end(tmp_path):
    db = tmp_path / "out.db"
    ctx = StreamingContext(1.0, clock="manual")
    ctx.source("generator", kind="tweets", rate=100, limit=250).sink(
        "sqlite", path=str(db), table="tweets", mode="append")
    ctx.run(until_idle=True)
    assert rows(db, "SELECT count(*), count(DISTINCT id) FROM tweets") == [(250, 250)]


def test_a_replayed_batch_is_skipped(tmp_path):
    """A crash after the sink committed but before the commit log: the replay writes nothing."""
    db, ckpt = tmp_path / "out.db", tmp_path / "ckpt"

    def job() -> StreamingContext:
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="append")
        ctx.source("generator", kind="clicks", rate=10, limit=30).sink(
            "sqlite", path=str(db), table="clicks", mode="append")
        return ctx

    job().run(batches=2)
    assert rows(db, "SELECT count(*) FROM clicks") == [(20,)]
    (ckpt / "commits" / f"{1:012d}.json").unlink()  # the crash: batch 1 written, not logged
    replayed = job().run(until_idle=True)
    assert [m.batch_id for m in replayed.batches if m.replay] == [1]
    assert rows(db, "SELECT count(*), count(DISTINCT ts) FROM clicks") == [(30, 30)]
    assert rows(db, "SELECT batch_id FROM _etlcore_commits") == [(3,)]


def test_commit_twice_writes_once_and_a_new_checkpoint_starts_afresh(tmp_path):
    db = tmp_path / "out.db"
    sink = build(db, tmp_path / "ckpt1", table="t", mode="append")
    batch = BatchInfo(0, 1.0)
    for _ in range(2):
        write_and_commit(sink, batch, [[{"x": 1}]])
    sink.close()
    assert rows(db, "SELECT x FROM t") == [(1,)]
    fresh = build(db, tmp_path / "ckpt2", table="t", mode="append")
    write_and_commit(fresh, batch, [[{"x": 2}]])
    assert rows(db, "SELECT x FROM t ORDER BY x") == [(1,), (2,)]


def test_existing_tables_and_new_dict_keys(tmp_path):
    db = tmp_path / "out.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'old')")
    sink = build(db, table="users", key=["id"])
    write_and_commit(sink, BatchInfo(0, 1.0), [[{"id": 1, "name": "new", "tags": ["a"]},
                                               {"id": 2}]])
    assert rows(db, "SELECT id, name, tags FROM users ORDER BY id") == [
        (1, "new", '["a"]'), (2, None, None)]


def test_a_record_that_does_not_fit_is_refused_by_the_writer(tmp_path):
    """Refused on the worker, before any sink commits: the rest of the batch is stored."""
    db = tmp_path / "out.db"
    sink = build(db, tmp_path / "ckpt", table="t", key=["k"], columns=["k", "v"])
    [result] = write(sink, BatchInfo(0, 1.0), [[("a", 1), ("b", 2, 3)]])
    assert isinstance(result, WriteResult)
    assert result.rejected == [(("b", 2, 3), "has 3 values after flattening, but the columns "
                                             "are ['k', 'v']")]
    sink.commit(BatchInfo(0, 1.0), [result.message])
    assert rows(db, "SELECT k, v FROM t") == [("a", 1)]
    assert sink.last_committed_batch() == 0


def test_a_failed_batch_leaves_nothing(tmp_path):
    db = tmp_path / "out.db"
    sink = build(db, tmp_path / "ckpt", table="t", key=["k"], columns=["k", "v"])
    with pytest.raises(ValueError, match="2 values|3 values"):  # rows not from the writer
        sink.commit(BatchInfo(0, 1.0), [[("a", 1), ("b", 2, 3)]])
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 't'") == [(0,)]
    assert sink.last_committed_batch() is None


def test_tuples_without_columns_name_the_key(tmp_path):
    sink = build(tmp_path / "out.db", table="t", mode="append")
    with pytest.raises(ConfigError) as err:  # on the worker, before any sink commits
        write(sink, BatchInfo(0, 1.0), [[("a", 1)]])
    assert err.value.key == "columns"


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_writer_crosses_processes_and_the_driver_writes(tmp_path, how):
    db = tmp_path / "out.db"
    sink = build(db, tmp_path / "ckpt", table="t", key=["k"], columns=["k", "v"])
    batch = BatchInfo(0, 1.0)
    here, there = open_writer(sink), open_writer(sink, how=how)
    parts = [[("a", 1)], [("b", 2), ("a", 3)]]
    messages = [there.write(batch, i, p) for i, p in enumerate(parts)]
    assert messages == [here.write(batch, i, p) for i, p in enumerate(parts)]
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 't'") == [(0,)]
    sink.commit(batch, messages)
    assert rows(db, "SELECT k, v FROM t ORDER BY k") == [("a", 3), ("b", 2)]


@pytest.mark.parametrize(("config", "key"), [
    ({"table": "t"}, "key"),
    ({"table": "t", "key": ["id"], "columns": ["name"]}, "key"),
    ({"table": "t", "key": ["id", "id"]}, "key"),
    ({"table": "t", "mode": "merge", "key": ["id"]}, "mode"),
    ({"key": ["id"]}, "table"),
])
def test_config_errors_name_the_key(config, key):
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "sqlite").build({"path": "x.db", **config},
                                                   where="sink 'sqlite'")
    assert err.value.key == f"sink 'sqlite'.{key}"
    assert key in str(err.value)
