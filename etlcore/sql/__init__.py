"""SQL on every batch: ``stream.sql("SELECT ... FROM batch ...")`` with DuckDB over Arrow.

    ctx.register_table("users", "users.parquet", reload_every=60)
    enriched = clicks.sql("SELECT c.*, u.country FROM batch c LEFT JOIN users u USING (user_id)")
    trending = tags.window("60s", "10s").sql(
        "SELECT tag, count(*) AS n FROM batch GROUP BY tag ORDER BY n DESC LIMIT 10")

The batch is the table ``batch``; its records become Arrow (see
:mod:`etlcore.sql.schema`), results are dict records. Row-wise statements run
per partition, all others on the collected batch (:mod:`etlcore.sql.nodes`
says why). The statement is parsed when declared, and bound against empty
tables of the declared schema, so a typo or an unknown column is a
:class:`SqlError` with its line and column before the job runs.

Needs the ``etlcore[sql]`` extra (duckdb, pyarrow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etlcore.errors import ConfigError
from etlcore.sql import engine
from etlcore.sql.engine import BATCH, SqlError
from etlcore.sql.nodes import SqlBatchNode, SqlPartitionNode
from etlcore.sql.schema import parse_schema, to_table
from etlcore.sql.tables import StaticTable

if TYPE_CHECKING:
    from etlcore.stream import Stream

__all__ = ["SqlError", "StaticTable", "sql", "to_table"]

MODES = ("auto", "partition", "batch")


def _cte_names(node: Any) -> set[str]:
    names: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for entry in (item.get("cte_map") or {}).get("map") or []:
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    names.add(entry["key"].lower())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def sql(stream: Stream, query: str, schema: Any = None, mode: str = "auto") -> Stream:
    """The stream of ``query``'s result rows (dicts), run on every batch of ``stream``."""
    if mode not in MODES:
        raise ConfigError("sql.mode", "one of " + ", ".join(MODES), mode)
    ctx = stream.ctx
    key = ctx._graph.new_key("sql")
    where = f"sql '{key}'"
    arrow_schema = None if schema is None else parse_schema(schema)
    tree = engine.parse(query, where)
    registered: dict[str, StaticTable] = {n.lower(): t for n, t in ctx._sql_tables.items()}
    named = engine.table_names(tree) - {BATCH} - _cte_names(tree)
    unknown = sorted(n for n in named if n.isidentifier() and n not in registered)
    if unknown:
        raise SqlError(where, query, f"no table named {unknown[0]!r}: register it with "
                       f"ctx.register_table({unknown[0]!r}, ...) before this stream.sql(...)"
                       f" (registered: {', '.join(sorted(registered)) or 'none'})")
    tables = {registered[n].name: registered[n] for n in sorted(named) if n in registered}
    if arrow_schema is not None and all(t.schema() is not None for t in tables.values()):
        engine.run(query, arrow_schema.empty_table(),
                   {n: t.schema().empty_table() for n, t in tables.items()}, where)
    partition = mode == "partition" or (mode == "auto" and engine.row_wise(tree))
    node_cls = SqlPartitionNode if partition else SqlBatchNode
    node = node_cls(stream.node, key, query, arrow_schema, tables)
    return type(stream)(ctx, ctx._graph.add(node))
