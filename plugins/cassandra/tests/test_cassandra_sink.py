"""The cassandra sink in real jobs against the harness's node: round trips on the local and
processes runners, dead letters with the store's reason, cell timestamps and TTL, schema
read from an existing table, secrets, and the missing-driver hint."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
from cassandra_testlib import rows, table_name

from etlcore import StreamingContext
from etlcore.errors import EtlcoreError
from etlcore.plugin.imports import MissingDependencyError
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext

pytestmark = pytest.mark.services

COLUMNS = {"id": "int", "name": "text", "tags": "list<text>", "score": "double"}


def _batches() -> list[list[dict[str, Any]]]:
    """Three batches; ids repeat across batches (a later batch's value wins)."""
    out = []
    for b in range(3):
        out.append([{"id": i, "name": f"n{i}-b{b}", "tags": [f"t{b}", f"i{i % 3}"],
                     "score": i / 4 + b} for i in range(b * 40, b * 40 + 120)])
    return out


def _expected() -> list[tuple[Any, ...]]:
    latest: dict[int, dict[str, Any]] = {}
    for batch in _batches():
        for rec in batch:
            latest[rec["id"]] = rec
    return sorted((r["id"], r["name"], r["tags"], r["score"]) for r in latest.values())


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_round_trip(runner: str, base_config: dict[str, Any], cassandra_session: Any,
                    tmp_path: Any) -> None:
    table = table_name()
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name=f"rt-{runner}",
                           runner=runner, parallelism=2,
                           **({"workers": 2} if runner == "processes" else {}))
    ctx.queue_stream(_batches()).sink("cassandra", table=table, columns=COLUMNS,
                                      primary_key=["id"], create_table=True,
                                      chunk_records=50, concurrency=8, **base_config)
    ctx.run(until_idle=True)
    assert ctx.dead_letters == []
    got = [(i, n, list(t), s) for i, n, t, s in
           rows(cassandra_session, base_config["keyspace"], table, list(COLUMNS))]
    assert got == _expected()
    assert len(got) == 200


def test_bad_records_go_to_dead_letters_with_the_stores_reason(
        base_config: dict[str, Any], cassandra_session: Any, tmp_path: Any) -> None:
    table = table_name()
    good = [{"k": f"k{i}", "n": i} for i in range(20)]
    huge_key = {"k": "x" * 70_000, "n": 1}           # the server refuses keys over 64 KiB
    huge_value = {"k": "big", "n": 2, "note": "y" * 14_000_000}  # a CQL message over 12.8 MiB
    wrong_type = {"k": "w", "n": "many"}             # the driver cannot encode it as bigint
    missing_key = {"n": 3}
    null_key = {"k": None, "n": 4}
    bad = [huge_key, wrong_type, huge_value, missing_key, null_key]
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="bad")
    ctx.queue_stream([good[:10] + bad[:3], bad[3:] + good[10:]]).sink(
        "cassandra", table=table, columns={"k": "text", "n": "bigint", "note": "text"},
        primary_key=["k"],
        create_table=True, **base_config)
    ctx.run(until_idle=True)
    reasons = {d["record"].get("k", "<none>")[:5] if d["record"].get("k") else
               repr(d["record"]): d["reason"] for d in ctx.dead_letters}
    assert len(ctx.dead_letters) == 5, [d["reason"] for d in ctx.dead_letters]
    assert "Key length of 70000 is longer than maximum of 65535" in reasons["xxxxx"]
    assert "Cassandra refused the row" in reasons["xxxxx"]
    assert "exceeds allowed maximum" in reasons["big"]  # the server's own words
    assert "invalid type" in reasons["w"] and "LongType" in reasons["w"]
    assert "key field 'k' is missing" in reasons[repr(missing_key)]
    assert "key field 'k' is null" in reasons[repr(null_key)]
    assert all("cassandra" in d["stage"] for d in ctx.dead_letters)
    got = rows(cassandra_session, base_config["keyspace"], table, ["k", "n"])
    assert got == sorted((r["k"], r["n"]) for r in good)  # the job went on


def test_cells_carry_the_batch_time_and_ttl(base_config: dict[str, Any],
                                            cassandra_session: Any, tmp_path: Any) -> None:
    ks, t1, t2 = base_config["keyspace"], table_name(), table_name()
    schema = {"columns": {"k": "text", "v": "int"}, "primary_key": ["k"], "create_table": True}
    ctx = StreamingContext(2.0, tmp_path / "ckpt", clock="manual", name="ts")
    stream = ctx.queue_stream([[{"k": "a", "v": 1}], [{"k": "a", "v": 2}, {"k": "b", "v": 3}]])
    stream.sink("cassandra", table=t1, ttl=3600, **schema, **base_config)
    stream.sink("cassandra", table=t2, write_timestamp="server", **schema, **base_config)
    before = time.time()
    ctx.run(until_idle=True)
    got = sorted(tuple(r) for r in cassandra_session.execute(
        f"SELECT k, v, WRITETIME(v), TTL(v) FROM {ks}.{t1}"))
    # batches run at manual-clock times 2.0 and 4.0: USING TIMESTAMP in microseconds
    assert [(k, v, w) for k, v, w, _ in got] == [("a", 2, 4_000_000), ("b", 3, 4_000_000)]
    assert all(3500 < ttl <= 3600 for *_, ttl in got)
    server = list(cassandra_session.execute(f"SELECT k, v, WRITETIME(v), TTL(v) FROM {ks}.{t2}"))
    assert sorted((r[0], r[1]) for r in server) == [("a", 2), ("b", 3)]
    assert all(r[2] >= int(before * 1e6) - 5_000_000 and r[3] is None for r in server)


def test_schema_from_an_existing_table_and_key_checks(base_config: dict[str, Any],
                                                      cassandra_session: Any,
                                                      tmp_path: Any) -> None:
    ks, table = base_config["keyspace"], table_name()
    cassandra_session.execute(f"CREATE TABLE {ks}.{table} (a text, b int, c double, "
                              "PRIMARY KEY ((a), b))")
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="existing")
    ctx.queue_stream([[{"a": "x", "b": 1, "c": 0.5}, {"a": "x", "b": 2}]]).sink(
        "cassandra", table=table, **base_config)
    ctx.run(until_idle=True)
    assert rows(cassandra_session, ks, table, ["a", "b", "c"]) == [("x", 1, 0.5), ("x", 2, None)]

    entry = get_registry().get("sink", "cassandra")
    wrong = entry.build({**base_config, "table": table, "key": ["a"]}, where="sink")
    with pytest.raises(EtlcoreError, match=r"key \['a'\] is not the primary key \['a', 'b'\]"):
        wrong.open(SinkContext("cassandra", "job", tmp_path / "c2"))
    missing = entry.build({**base_config, "table": "no_such_table"}, where="sink")
    with pytest.raises(EtlcoreError, match="no_such_table does not exist"):
        missing.open(SinkContext("cassandra", "job", tmp_path / "c3"))


def test_append_mode_needs_a_checkpoint(base_config: dict[str, Any], tmp_path: Any) -> None:
    sink = get_registry().get("sink", "cassandra").build(
        {**base_config, "table": table_name(), "mode": "append", "columns": {"v": "int"},
         "create_table": True}, where="sink")
    with pytest.raises(EtlcoreError, match="give the job a checkpoint"):
        sink.open(SinkContext("cassandra", "job", None))


def test_credentials_stay_out_of_reprs_logs_and_errors(
        base_config: dict[str, Any], tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    secret = "pw-5f1e0c-never-shown"
    config = {**base_config, "table": "absent_table", "username": "etl-user-77",
              "password": secret}
    sink = get_registry().get("sink", "cassandra").build(config, where="sink")
    with pytest.raises(EtlcoreError) as err:
        sink.open(SinkContext("cassandra", "job", tmp_path / "ckpt"))  # no auth on the node
    shown = [repr(sink), str(sink), str(err.value), caplog.text]
    described = get_registry().get("sink", "cassandra").describe()["config"]
    assert {f["name"] for f in described if f["secret"]} == {"username", "password"}
    for text in shown:
        assert secret not in text and "etl-user-77" not in text


def test_missing_driver_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from etlcore_cassandra import sink as module

    monkeypatch.setitem(sys.modules, "cassandra.cluster", None)
    with pytest.raises(MissingDependencyError, match="pip install 'cassandra-driver'"):
        module._driver()
