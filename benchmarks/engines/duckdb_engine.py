"""DuckDB SQL on the same data: W1/W3 over the workload's line file, W2/W4 an in-memory Arrow table.

For W1 and W3 ``t`` is a view over ``read_csv`` of the line file (one VARCHAR column,
no delimiter or quote character in a line), so every query reads the file.
"""

from __future__ import annotations

from typing import Any

from benchmarks.data import FLUSH_KEY, SESSION_GAP_S, LineFile
from benchmarks.engines.base import Engine
from benchmarks.engines.polars_engine import frame
from benchmarks.reference import w2_row, w3_row, w4_row

SQL = {
    "W1": """SELECT word, count(*) FROM (SELECT unnest(string_split(line, ' ')) AS word FROM t)
             GROUP BY word""",
    "W2": "SELECT key, CAST(floor(ts) AS BIGINT) AS w, sum(value) FROM t GROUP BY key, w",
    "W3": """WITH p AS (
                SELECT TRY_CAST(json_extract_string(line, '$.id') AS BIGINT) AS id,
                       json_extract_string(line, '$.user') AS "user",
                       TRY_CAST(json_extract_string(line, '$.amount') AS DOUBLE) AS amount
                FROM t WHERE json_valid(line))
             SELECT count(*), sum(id), sum(amount), sum(length("user")) FROM p
             WHERE amount >= 0""",
    "W4": f"""WITH marked AS (
                SELECT "user", ts, CASE WHEN ts - lag(ts) OVER w > {SESSION_GAP_S}
                                        THEN 1 ELSE 0 END AS new_session
                FROM t WINDOW w AS (PARTITION BY "user" ORDER BY ts)),
              numbered AS (
                SELECT "user", ts, sum(new_session) OVER (PARTITION BY "user" ORDER BY ts
                    ROWS UNBOUNDED PRECEDING) AS session FROM marked)
             SELECT "user", min(ts), count(*), max(ts) - min(ts) FROM numbered
             GROUP BY "user", session""",
}


class DuckDB(Engine):
    name = "duckdb"
    note = "one SQL query (all cores): W1/W3 over read_csv of the line file, else an Arrow table"

    def setup(self) -> None:
        import duckdb

        self.duckdb = duckdb
        self.con = duckdb.connect()

    def version(self) -> str:
        return self.duckdb.__version__

    def prepare(self, workload: str, data: Any) -> Any:
        if isinstance(data, LineFile):
            path = data.path.replace("'", "''")
            self.con.execute(
                f"CREATE VIEW t AS SELECT line FROM read_csv('{path}', header = false, "
                "columns = {'line': 'VARCHAR'}, delim = '\x1f', quote = '', escape = '', "
                "auto_detect = false)")
        else:
            self.table = frame(workload, data).to_arrow()
            self.con.register("t", self.table)
        return SQL[workload]

    def run(self, workload: str, sql: Any) -> Any:
        return self.con.execute(sql).fetchall()

    def rows_W2(self, out: Any) -> Any:
        return [w2_row(k, w, v) for k, w, v in out if k != FLUSH_KEY]

    def rows_W3(self, out: Any) -> Any:
        return [w3_row(*out[0])]

    def rows_W4(self, out: Any) -> Any:
        return [w4_row(*r) for r in out if r[0] != FLUSH_KEY]

    def close(self) -> None:
        self.con.close()


ENGINE = DuckDB
