"""stream.sql: DuckDB on every batch, checked against the same answer computed in Python."""

from __future__ import annotations

import itertools
import random
import sys
from collections import Counter, defaultdict
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.runners.processes import ProcessRunner
from etlcore.sql import SqlError, engine
from etlcore.sql.nodes import SqlBatchNode, SqlPartitionNode

_names = itertools.count()


def collect(ctx: StreamingContext, stream: Any, batches: int | None = None) -> dict[int, list]:
    name = f"sql-{next(_names)}"
    MemorySink.clear(name)
    stream.sink("memory", name=name)
    try:
        ctx.run(batches=batches, until_idle=batches is None)
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


def orders(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"user": f"u{rng.randrange(20)}", "amount": rng.randrange(1, 500),
             "country": rng.choice(["de", "fr", "us"])} for _ in range(n)]


def test_group_by_matches_python_for_dict_and_tuple_records():
    batches = [orders(1, 300), orders(2, 250)]
    ctx = StreamingContext(1.0, clock="manual")
    dicts = ctx.queue_stream(batches)
    by_dict = dicts.sql("SELECT user, sum(amount) AS total, count(*) AS n FROM batch "
                        "GROUP BY user")
    tuples = ctx.queue_stream([[(r["user"], r["amount"]) for r in b] for b in batches])
    by_tuple = tuples.sql("SELECT user, sum(amount) AS total, count(*) AS n FROM batch "
                          "GROUP BY user", schema={"user": "str", "amount": "int"})
    inferred = ctx.queue_stream([[(r["user"], r["amount"]) for r in b] for b in batches],
                                name="inferred").sql(
        "SELECT _1 AS user, sum(_2) AS total, count(*) AS n FROM batch GROUP BY _1")
    name = f"sql-{next(_names)}"
    for i, s in enumerate([by_dict, by_tuple, inferred]):
        s.sink("memory", name=f"{name}-{i}")
    ctx.run(batches=2)
    for b, records in enumerate(batches):
        totals: dict[str, int] = defaultdict(int)
        for r in records:
            totals[r["user"]] += r["amount"]
        counts = Counter(r["user"] for r in records)
        want = sorted((u, totals[u], counts[u]) for u in totals)
        for i in range(3):
            rows = MemorySink.batches(f"{name}-{i}")[b]
            assert sorted((r["user"], r["total"], r["n"]) for r in rows) == want
            assert all(type(r["total"]) is int for r in rows)
    for i in range(3):
        MemorySink.clear(f"{name}-{i}")


def test_scalar_records_are_one_column_named_value():
    ctx = StreamingContext(1.0, clock="manual")
    words = ctx.queue_stream([["a", "b", "a", "c", "a"]])
    out = collect(ctx, words.sql("SELECT value AS word, count(*) AS n FROM batch "
                                 "GROUP BY value ORDER BY n DESC, word"))
    assert out[0] == [{"word": "a", "n": 3}, {"word": "b", "n": 1}, {"word": "c", "n": 1}]


def test_records_that_do_not_fit_the_schema_are_dead_lettered_and_the_batch_goes_on():
    good = [{"id": 1, "amount": 2.5}, {"id": 2, "amount": 4}]
    bad = [{"id": "three", "amount": 1.0}, ("too", "many", "values"), "a string"]
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([good[:1] + bad + good[1:], [{"id": 3, "amount": 1.0}]])
    out = collect(ctx, s.sql("SELECT id, amount * 2 AS twice FROM batch",
                             schema={"id": "bigint", "amount": "double"}))
    assert out == {0: [{"id": 1, "twice": 5.0}, {"id": 2, "twice": 8.0}],
                   1: [{"id": 3, "twice": 2.0}]}
    letters = ctx.dead_letters
    assert [d["record"] for d in letters] == bad
    assert all(d["stage"] == "sql-1" and d["batch_id"] == 0 for d in letters)
    assert "field 'id'" in letters[0]["reason"] and "int64" in letters[0]["reason"]
    assert "expected 2 values (id, amount), got 3" in letters[1]["reason"]
    assert "got str" in letters[2]["reason"]


def test_inferred_schema_with_a_mixed_column_keeps_the_first_type():
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[{"k": "a", "v": 1}, {"k": "b", "v": "x"}, {"k": "c"}]])
    out = collect(ctx, s.sql("SELECT k, v FROM batch ORDER BY k"))
    assert out[0] == [{"k": "a", "v": 1}, {"k": "c", "v": None}]
    assert [d["record"] for d in ctx.dead_letters] == [{"k": "b", "v": "x"}]


@pytest.mark.parametrize("query,partition", [
    ("SELECT a, b * 2 AS c FROM batch WHERE a > 1", True),
    ("SELECT unnest(string_split(value, ' ')) AS w FROM batch", True),
    ("SELECT b.a, t.x FROM batch b LEFT JOIN t ON b.a = t.a", True),
    ("SELECT a, count(*) FROM batch GROUP BY a", False),
    ("SELECT count(*) FROM batch", False),
    ("SELECT DISTINCT a FROM batch", False),
    ("SELECT a FROM batch ORDER BY a LIMIT 3", False),
    ("SELECT a, row_number() OVER (ORDER BY a) FROM batch", False),
    ("SELECT a FROM batch WHERE a > (SELECT avg(a) FROM batch)", False),
    ("SELECT t.a FROM t RIGHT JOIN batch b ON b.a = t.a", False),
    ("WITH x AS (SELECT a FROM batch) SELECT a FROM x", False),
    ("SELECT a FROM batch UNION SELECT a FROM batch", False),
])
def test_row_wise_sql_runs_per_partition_and_the_rest_on_the_batch(query, partition):
    assert engine.row_wise(engine.parse(query, "test")) is partition


def test_errors_name_the_statement_and_position_before_the_job_runs():
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[{"tag": "a"}]])
    with pytest.raises(SqlError) as err:
        s.sql("SELECT tag\nFORM batch")
    assert (err.value.line, err.value.column) == (2, 6)
    assert "'SELECT tag\\nFORM batch'" in str(err.value) and "sql 'sql-1'" in str(err.value)
    with pytest.raises(SqlError) as err:
        s.sql("SELECT tagg FROM batch", schema={"tag": "str"})
    assert (err.value.line, err.value.column) == (1, 8)
    assert 'column "tagg" not found' in str(err.value)
    with pytest.raises(SqlError, match="no table named 'users'.*register_table"):
        s.sql("SELECT * FROM batch JOIN users USING (tag)")
    with pytest.raises(SqlError, match="one SELECT statement, got 2"):
        s.sql("SELECT 1 FROM batch; SELECT 2")
    with pytest.raises(SqlError, match="expected a SELECT statement, got"):
        s.sql("DELETE FROM batch")
    with pytest.raises(ConfigError, match="'sql.schema.tag'.*a column type"):
        s.sql("SELECT tag FROM batch", schema={"tag": "strng"})
    with pytest.raises(ConfigError, match="'sql.mode'"):
        s.sql("SELECT tag FROM batch", mode="fast")


def test_an_error_only_the_data_shows_stops_the_job_naming_the_statement():
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[{"tag": "a"}]])
    out = s.sql("SELECT CAST(tag AS INTEGER) AS n FROM batch")
    with pytest.raises(SqlError, match="CAST"):
        collect(ctx, out)


def test_sql_over_a_sliding_window_equals_counting_the_window_in_python():
    rng = random.Random(5)
    batches = [[rng.choice("abcdefg") for _ in range(rng.randrange(0, 40))] for _ in range(9)]
    ctx = StreamingContext(1.0, clock="manual")
    tags = ctx.queue_stream(batches)
    top = tags.window("3s", "2s").sql(
        "SELECT value AS tag, count(*) AS n FROM batch GROUP BY tag ORDER BY n DESC, tag LIMIT 3")
    out = collect(ctx, top, batches=9)
    for b in range(9):
        if (b + 1) % 2:
            assert b not in out or out[b] == []
            continue
        window = Counter(t for batch in batches[max(0, b - 2):b + 1] for t in batch)
        want = sorted(window.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        assert [(r["tag"], r["n"]) for r in out[b]] == want


def test_join_with_static_tables_of_every_kind(tmp_path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"user": ["u1", "u2"], "tier": ["gold", "free"]}),
                   tmp_path / "tiers.parquet")
    (tmp_path / "names.csv").write_text("user,name\nu1,Ann\nu3,Cy\n")
    ctx = StreamingContext(1.0, clock="manual")
    ctx.register_table("tiers", tmp_path / "tiers.parquet")
    ctx.register_table("names", str(tmp_path / "names.csv"))
    ctx.register_table("regions", pd.DataFrame({"user": ["u2"], "region": ["eu"]}))
    ctx.register_table("ages", pa.table({"user": ["u1", "u3"], "age": [30, 40]}))
    s = ctx.queue_stream([[{"user": "u1"}, {"user": "u2"}, {"user": "u3"}]])
    out = s.sql("SELECT b.user, t.tier, n.name, r.region, a.age FROM batch b "
                "LEFT JOIN tiers t USING (user) LEFT JOIN names n USING (user) "
                "LEFT JOIN regions r USING (user) LEFT JOIN ages a USING (user) ORDER BY user",
                schema={"user": "str"})
    assert collect(ctx, out)[0] == [
        {"user": "u1", "tier": "gold", "name": "Ann", "region": None, "age": 30},
        {"user": "u2", "tier": "free", "name": None, "region": "eu", "age": None},
        {"user": "u3", "tier": None, "name": "Cy", "region": None, "age": 40},
    ]


def test_register_table_refuses_bad_input_before_the_job_runs(tmp_path):
    ctx = StreamingContext(1.0, clock="manual")
    with pytest.raises(ConfigError, match="register_table 'x'.*an existing Parquet or CSV"):
        ctx.register_table("x", tmp_path / "missing.parquet")
    with pytest.raises(ConfigError, match="register_table 'x'.*ending in .parquet"):
        (tmp_path / "x.txt").write_text("hi")
        ctx.register_table("x", tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="'register_table.name'"):
        ctx.register_table("batch", [{"a": 1}])
    with pytest.raises(ConfigError, match="'register_table.reload_every'"):
        ctx.register_table("x", lambda: [], reload_every=0)
    ctx.register_table("x", [{"a": 1}])
    with pytest.raises(ConfigError, match="not registered yet"):
        ctx.register_table("X", [{"a": 2}])


def test_a_loader_table_is_reloaded_every_n_batches_on_the_driver():
    loads: list[int] = []

    def prices() -> list[dict[str, Any]]:
        loads.append(len(loads))
        return [{"item": "x", "price": 10 * len(loads)}]

    ctx = StreamingContext(1.0, clock="manual")
    ctx.register_table("prices", prices, reload_every=2)
    s = ctx.queue_stream([[{"item": "x"}]] * 5)
    out = s.sql("SELECT b.item, p.price FROM batch b JOIN prices p USING (item)")
    assert isinstance(out.node, SqlPartitionNode)
    got = collect(ctx, out, batches=5)
    assert [got[b][0]["price"] for b in range(5)] == [10, 10, 20, 20, 30]
    assert len(loads) == 3


def test_to_arrow_and_to_pandas_in_foreach_batch_and_transform():
    seen: list[Any] = []
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[("a", 1), ("b", 2)]])
    s.foreach_batch(lambda bid, records: seen.append(
        (records.to_arrow({"k": "str", "v": "int"}).column("v").to_pylist(),
         records.to_pandas().shape)))
    doubled = s.transform(lambda records: records.to_pandas().assign(_2=lambda d: d._2 * 2)
                          .itertuples(index=False, name=None))
    assert collect(ctx, doubled, batches=1) == {0: [("a", 2), ("b", 4)]}
    assert seen == [([1, 2], (2, 2))]


def test_to_arrow_raises_naming_a_record_that_does_not_fit():
    from etlcore.records import Records

    with pytest.raises(ValueError, match="record 'x' does not fit the schema"):
        Records([(1,), "x"]).to_arrow({"a": "int"})


def test_missing_duckdb_gives_an_install_hint(monkeypatch):
    from etlcore.plugin.imports import MissingDependencyError

    monkeypatch.setitem(sys.modules, "duckdb", None)
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[1]])
    with pytest.raises(MissingDependencyError, match=r"pip install 'etlcore\[sql\]'"):
        s.sql("SELECT value FROM batch")


def _two_partitions(ctx: StreamingContext) -> Any:
    a = ctx.queue_stream([orders(3, 200), orders(4, 10), []], name="a")
    b = ctx.queue_stream([orders(5, 150) + ["junk"], [], orders(6, 80)], name="b")
    return a.union(b)


def _sql_jobs(ctx: StreamingContext) -> tuple[Any, Any]:
    ctx.register_table("rates", [{"country": "de", "rate": 1.1}, {"country": "us", "rate": 0.9}])
    schema = {"user": "str", "amount": "int", "country": "str"}
    s = _two_partitions(ctx)
    rows = s.sql("SELECT b.user, b.amount * r.rate AS eur FROM batch b "
                 "JOIN rates r USING (country) WHERE b.amount > 250", schema=schema)
    agg = s.sql("SELECT country, sum(amount) AS total, count(*) AS n FROM batch "
                "GROUP BY country ORDER BY country", schema=schema)
    return rows, agg


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_row_wise_and_aggregating_sql_on_each_runner(runner):
    runner_obj = ProcessRunner(workers=2) if runner == "processes" else "local"
    ctx = StreamingContext(1.0, clock="manual", runner=runner_obj, parallelism=2,
                           name=f"sql-{runner}")
    rows, agg = _sql_jobs(ctx)
    assert isinstance(rows.node, SqlPartitionNode) and isinstance(agg.node, SqlBatchNode)
    name = f"sql-{next(_names)}"
    rows.sink("memory", name=f"{name}-rows")
    agg.sink("memory", name=f"{name}-agg")
    try:
        ctx.run(batches=3)
        got_rows = MemorySink.batches(f"{name}-rows")
        got_agg = MemorySink.batches(f"{name}-agg")
    finally:
        MemorySink.clear(f"{name}-rows")
        MemorySink.clear(f"{name}-agg")
    inputs = [orders(3, 200) + orders(5, 150), orders(4, 10), orders(6, 80)]
    rate = {"de": 1.1, "us": 0.9}
    for b, records in enumerate(inputs):
        want_rows = sorted((r["user"], round(r["amount"] * rate[r["country"]], 6))
                           for r in records if r["country"] in rate and r["amount"] > 250)
        assert sorted((r["user"], round(r["eur"], 6)) for r in got_rows.get(b, [])) == want_rows
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in records:
            totals[r["country"]][0] += r["amount"]
            totals[r["country"]][1] += 1
        assert got_agg[b] == [{"country": c, "total": t, "n": n}
                              for c, (t, n) in sorted(totals.items())]
    junk = [d for d in ctx.dead_letters if d["record"] == "junk"]
    assert len(junk) == 2 and {d["stage"] for d in junk} == {"sql-1", "sql-2"}


def test_arrow_records_are_queried_in_place():
    import pyarrow as pa

    from etlcore.sql.schema import to_table

    first = pa.record_batch({"k": ["a", "b", "a"], "v": [1, 2, 3]})
    second = pa.table({"k": ["b"], "v": [10]})
    table = to_table([first, second])
    assert table.column("v").chunks[0].buffers()[1].address == first.column(1).buffers()[1].address
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[first, second]])
    out = collect(ctx, s.sql("SELECT k, sum(v) AS total FROM batch GROUP BY k ORDER BY k"))
    assert out[0] == [{"k": "a", "total": 4}, {"k": "b", "total": 12}]


def _checkpointed(ckpt: Any, name: str, query: str) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="sql-ckpt")
    s = ctx.queue_stream([[{"k": "a", "v": 1}], [{"k": "a", "v": 2}], [{"k": "b", "v": 3}]])
    s.window("2s").sql(query, schema={"k": "str", "v": "int"}).sink("memory", name=name)
    return ctx


def test_a_checkpointed_sql_job_resumes_and_a_changed_statement_is_refused(tmp_path):
    from etlcore.errors import CheckpointError

    name = f"sql-{next(_names)}"
    MemorySink.clear(name)
    query = "SELECT k, sum(v) AS total FROM batch GROUP BY k ORDER BY k"
    _checkpointed(tmp_path, name, query).run(batches=2)
    _checkpointed(tmp_path, name, query).run(batches=1)
    got = MemorySink.batches(name)
    MemorySink.clear(name)
    assert got == {0: [{"k": "a", "total": 1}], 1: [{"k": "a", "total": 3}],
                   2: [{"k": "a", "total": 2}, {"k": "b", "total": 3}]}
    with pytest.raises(CheckpointError, match="operator 'sql-1': query"):
        _checkpointed(tmp_path, name, query.replace("sum", "max")).run(batches=1)


def test_mode_overrides_where_the_statement_runs():
    ctx = StreamingContext(1.0, clock="manual")
    a = ctx.queue_stream([[{"k": "x"}, {"k": "x"}]], name="a")
    b = ctx.queue_stream([[{"k": "x"}]], name="b")
    query = "SELECT k, count(*) AS n FROM batch GROUP BY k"
    per_partition = a.union(b).sql(query, mode="partition")
    whole = a.union(b).sql("SELECT k FROM batch", mode="batch")
    assert isinstance(per_partition.node, SqlPartitionNode)
    assert isinstance(whole.node, SqlBatchNode)
    name = f"sql-{next(_names)}"
    per_partition.sink("memory", name=f"{name}-p")
    whole.sink("memory", name=f"{name}-w")
    ctx.run(batches=1)
    try:
        assert MemorySink.batches(f"{name}-p")[0] == [{"k": "x", "n": 2}, {"k": "x", "n": 1}]
        assert MemorySink.batches(f"{name}-w")[0] == [{"k": "x"}] * 3
    finally:
        MemorySink.clear(f"{name}-p")
        MemorySink.clear(f"{name}-w")
