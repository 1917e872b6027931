"""Running one SQL statement with DuckDB over Arrow tables, and checking it beforehand.

The batch and the static tables are registered as DuckDB views over the Arrow
tables (DuckDB scans Arrow memory in place); the result comes back as dict
records. A DuckDB error becomes a :class:`SqlError` that quotes the statement
and the line and column DuckDB points at.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from typing import Any

from etlcore.errors import ConfigError, EtlcoreError
from etlcore.sql import deps

BATCH = "batch"  # the name SQL uses for the records of the batch

_local = threading.local()


class SqlError(EtlcoreError):
    """A SQL statement DuckDB refused: names the operator, the statement and the position."""

    def __init__(self, where: str, query: str, message: str, line: int | None = None,
                 column: int | None = None):
        self.query = query
        self.line = line
        self.column = column
        at = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{where}: SQL error{at} in statement {query!r}: {message}")


def connection() -> Any:
    """This thread's DuckDB connection (one per process and thread: never across a fork)."""
    key = (os.getpid(), threading.get_ident())
    con = getattr(_local, "con", None)
    if con is None or getattr(_local, "key", None) != key:
        con = deps.duckdb().connect(":memory:", config={"threads": _threads()})
        _local.con, _local.key = con, key
    return con


def _threads() -> int:
    """DuckDB threads per connection: 1 unless ``ETLCORE_SQL_THREADS`` says otherwise.

    A micro-batch is small (tens of thousands of rows), where DuckDB's thread
    start-up and synchronisation cost more than they save (measured 3.2 ms on
    one thread against 10.8 ms on two, for a 50,000-row GROUP BY on a busy
    2-core machine), and the runner already runs one task per partition on
    every core: DuckDB threads on top would only contend with them.
    """
    value = os.environ.get("ETLCORE_SQL_THREADS", "1")
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError("ETLCORE_SQL_THREADS", "a positive number of threads", value)
    return threads


_CARET = re.compile(r"^LINE (\d+): (.*)\n( *)\^", re.MULTILINE)


def sql_error(where: str, query: str, err: Exception) -> SqlError:
    """The DuckDB error as a SqlError; the position comes from DuckDB's ``LINE n:`` caret."""
    text = str(err)
    match = _CARET.search(text)
    message = text.split("\n\nLINE ")[0].strip() if match else text.strip()
    if match is None:
        return SqlError(where, query, message)
    prefix = len(f"LINE {match.group(1)}: ")
    return SqlError(where, query, message, int(match.group(1)),
                    len(match.group(3)) - prefix + 1)


def parse(query: str, where: str) -> dict[str, Any]:
    """DuckDB's parse tree of ``query`` (no tables needed); one SELECT statement only."""
    duckdb = deps.duckdb()
    con = connection()
    if not isinstance(query, str) or not query.strip():
        raise SqlError(where, str(query), "expected a SELECT statement")
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as err:
        raise sql_error(where, query, err) from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise SqlError(where, query, f"expected one SELECT statement, got {len(statements)} "
                       "statement(s)" if len(statements) != 1 else
                       f"expected a SELECT statement, got {statements[0].type.name}")
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    if tree.get("error"):
        raise SqlError(where, query, tree.get("error_message", "cannot parse"))
    return tree["statements"][0]["node"]


def table_names(node: Any) -> set[str]:
    """Every table name the parse tree refers to (lower case)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "BASE_TABLE" and isinstance(item.get("table_name"), str):
                names.add(item["table_name"].lower())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _aggregates() -> frozenset[str]:
    found = getattr(_local, "aggregates", None)
    if found is None:
        rows = connection().execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type = 'aggregate'").fetchall()
        found = frozenset(r[0].lower() for r in rows) | {"count_star"}
        _local.aggregates = found
    return found


def row_wise(node: dict[str, Any]) -> bool:
    """True when the query maps each batch row on its own, so it may run per partition.

    That is one SELECT over ``batch`` (or ``batch`` inner/left joined with a
    static table) with no GROUP BY, HAVING, QUALIFY, DISTINCT, ORDER BY, LIMIT,
    sample, CTE, subquery, window function or aggregate: then the union of the
    query over the partitions equals the query over the whole batch. Anything
    else is conservatively whole-batch.
    """
    if node.get("type") != "SELECT_NODE" or node.get("modifiers"):
        return False
    if node.get("cte_map", {}).get("map") or node.get("group_expressions"):
        return False
    if any(node.get(k) for k in ("having", "qualify", "sample")):
        return False
    source = node.get("from_table") or {}
    if source.get("type") == "JOIN":
        left, right = source.get("left") or {}, source.get("right") or {}
        if (source.get("join_type") not in ("INNER", "LEFT") or source.get("ref_type") != "REGULAR"
                or right.get("type") != "BASE_TABLE"
                or str(right.get("table_name")).lower() == BATCH):
            return False
        source = left
    if source.get("type") != "BASE_TABLE" or str(source.get("table_name")).lower() != BATCH:
        return False
    aggregates = _aggregates()
    stack: list[Any] = [node.get("select_list"), node.get("where_clause"), node.get("from_table")]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            cls = item.get("class")
            if cls in ("WINDOW", "SUBQUERY"):
                return False
            if cls == "FUNCTION" and str(item.get("function_name")).lower() in aggregates:
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def run(query: str, batch: Any, tables: dict[str, Any], where: str) -> Any:
    """The query's result as an Arrow table; ``batch`` and ``tables`` are Arrow tables."""
    duckdb = deps.duckdb()
    con = connection()
    registered = {BATCH: batch, **tables}
    for name, table in registered.items():
        con.register(name, table)
    try:
        relation = con.sql(query)
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb < 1.4
        return fetch()
    except duckdb.Error as err:
        raise sql_error(where, query, _positioned(con, query, err)) from None
    finally:
        for name in registered:
            con.unregister(name)


def _positioned(con: Any, query: str, err: Exception) -> Exception:
    """The same error from ``execute``, whose messages carry DuckDB's ``LINE n:`` caret."""
    if _CARET.search(str(err)):
        return err
    try:
        con.execute(query).fetchall()
    except deps.duckdb().Error as again:
        return again
    return err


def _plain(table: Any) -> Any:
    """HUGEINT sums arrive as decimal(38, 0): make them int64 when they fit (Spark's long)."""
    pa = deps.pyarrow()
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type) and f.type.scale == 0:
            with contextlib.suppress(pa.ArrowInvalid, OverflowError):
                table = table.set_column(i, f.name, table.column(i).cast(pa.int64()))
    return table


def to_records(table: Any) -> list[dict[str, Any]]:
    """Dict records, one per result row."""
    return _plain(table).to_pylist()
