"""SQL in YAML jobs: a ``sql`` step and ``tables``, each mistake naming its key."""

from __future__ import annotations

import textwrap

import pytest

from etlcore.clock import ManualClock
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.job import load_yaml_job


def write(tmp_path, text):
    path = tmp_path / "job.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_sql_steps_join_a_csv_table_and_aggregate(tmp_path):
    (tmp_path / "users.csv").write_text("id,country\n1,de\n2,fr\n3,de\n")
    batches = [[{"id": 1, "amount": 5}, {"id": 2, "amount": 7}, {"id": 3, "amount": 1},
                {"id": "x", "amount": 1}], [{"id": 2, "amount": 3}]]
    name = "sql-yaml-1"
    MemorySink.clear(name)
    path = write(tmp_path, f"""
        name: sql-yaml
        source: {{type: queue, config: {{batches: {batches!r}}}}}
        tables:
          users: {tmp_path / "users.csv"}
        transform:
          - sql:
              query: "SELECT b.amount, u.country FROM batch b JOIN users u USING (id)"
              schema: {{id: int, amount: int}}
          - sql: "SELECT country, sum(amount) AS total FROM batch GROUP BY country ORDER BY country"
        store:
          - sink: memory
            config: {{name: {name}}}
    """)
    job = load_yaml_job(path)
    ctx = job.build(clock=ManualClock())
    ctx.run(batches=2)
    try:
        assert MemorySink.batches(name) == {
            0: [{"country": "de", "total": 6}, {"country": "fr", "total": 7}],
            1: [{"country": "fr", "total": 3}]}
    finally:
        MemorySink.clear(name)
    assert [d["record"] for d in ctx.dead_letters] == [{"id": "x", "amount": 1}]


def test_a_loader_table_from_an_import_path(tmp_path):
    name = "sql-yaml-2"
    MemorySink.clear(name)
    path = write(tmp_path, f"""
        name: sql-loader
        source: {{type: queue, config: {{batches: [[{{k: 1}}], [{{k: 2}}]]}}}}
        tables:
          squares: {{function: "tests.sql.test_sql_yaml:squares", reload_every: 5}}
        transform:
          - sql: "SELECT b.k, s.sq FROM batch b JOIN squares s USING (k)"
        store:
          - sink: memory
            config: {{name: {name}}}
    """)
    load_yaml_job(path).build(clock=ManualClock()).run(batches=2)
    try:
        assert MemorySink.batches(name) == {0: [{"k": 1, "sq": 1}], 1: [{"k": 2, "sq": 4}]}
    finally:
        MemorySink.clear(name)


def squares() -> list[dict[str, int]]:
    return [{"k": k, "sq": k * k} for k in range(5)]


@pytest.mark.parametrize("snippet,key,message", [
    ("transform: [{sql: 'SELECT k FORM batch'}]", "transform[0].sql.query",
     "line 1, column 15"),
    ("transform: [{sql: {query: 'SELECT k FROM batch', mode: quick}}]",
     "transform[0].sql.mode", "auto"),
    ("transform: [{sql: {query: 'SELECT k FROM batch', schema: {k: integr}}}]",
     "sql.schema.k", "a column type"),
    ("tables: {t: {path: nowhere.csv}}", "tables.t", "an existing Parquet or CSV file"),
    ("tables: {t: {path: a.csv, function: 'x:y'}}", "tables.t", "exactly one of"),
    ("tables: {t: {function: 'no.such.module:f'}}", "tables.t.function", "imports"),
    ("tables: {t: {path: a.csv, reload: 2}}", "tables.t.reload", "known keys"),
    ("tables: {t: {function: 'tests.sql.test_sql_yaml:squares', reload_every: 0}}",
     "tables.t.reload_every", "positive"),
])
def test_mistakes_name_their_key(tmp_path, snippet, key, message):
    path = tmp_path / "job.yaml"
    path.write_text("name: bad\nsource: {type: queue, config: {batches: [[{k: 1}]]}}\n"
                    "store: [{sink: memory, config: {name: sql-yaml-bad}}]\n" + snippet + "\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_job(path).build(clock=ManualClock())
    assert f"'{key}'" in str(err.value) and message in str(err.value)
