"""The SQL operator's two graph nodes: per partition, or over the whole batch.

Where the SQL runs is decided from DuckDB's parse tree of the statement
(:func:`etlcore.sql.engine.row_wise`):

- **Row-wise SQL** (projections, filters, ``unnest``, an inner/left join of
  ``batch`` with a static table) runs per partition, fused with the narrow
  operators around it, in the task that already holds the records. No record
  moves; under ``processes`` and ``spark`` every worker runs its share.
- **Any other SQL** (GROUP BY, aggregates, DISTINCT, ORDER BY, LIMIT, window
  functions, subqueries) runs once on the collected batch, in one reduce task.
  Each upstream task turns its records into Arrow first (in parallel; records
  that do not fit the schema are dead-lettered there) and ships the Arrow
  table, which pickles as a few flat buffers rather than record by record;
  the reduce task concatenates the tables (no copy) and runs the statement.
  A split by group key followed by SQL per key partition would spread the
  aggregation, but is only correct for a subset of SQL (no global
  aggregates, ORDER BY, LIMIT, HAVING over all groups); one run over the
  whole batch gives exactly what the statement says for any SELECT, and
  DuckDB parallelises it within the task itself.
"""

from __future__ import annotations

from typing import Any

from etlcore.graph.base import BatchScope, NarrowNode, Node, TaskContext, WideNode
from etlcore.sql import deps, engine
from etlcore.sql.schema import to_table
from etlcore.sql.tables import StaticTable


class _Sql:
    """What both nodes share: the statement, the schema and the tables it reads."""

    key: str
    worker_modules = ("etlcore.sql.warm",)  # preloaded by the processes runner's fork server

    def _setup(self, query: str, schema: Any, tables: dict[str, StaticTable]) -> None:
        self.query = query
        self.schema = schema
        self.tables = tables  # only the tables the statement names

    def identity(self) -> dict[str, Any]:
        return {"query": self.query,
                "schema": None if self.schema is None else str(self.schema),
                "tables": {n: t.identity() for n, t in sorted(self.tables.items())}}

    def _table_param(self, index: int) -> dict[str, Any]:
        return {name: t.get(index) for name, t in self.tables.items()}

    def _arrow(self, records: list[Any], ctx: TaskContext) -> Any:
        return to_table(records, self.schema,
                        lambda record, why: ctx.dead_letter(record, why, self.key))

    def _query(self, batch: Any, tables: dict[str, Any]) -> list[dict[str, Any]]:
        result = engine.run(self.query, batch, tables or {}, f"sql '{self.key}'")
        return engine.to_records(result)

    def __getstate__(self) -> dict[str, Any]:
        # tables travel as the per-batch param; loaders and file paths stay on the driver
        return {**self.__dict__, "tables": {}}


class SqlPartitionNode(_Sql, NarrowNode):
    """Row-wise SQL, run on each partition where it sits."""

    op = "sql"

    def __init__(self, parent: Node, key: str, query: str, schema: Any,
                 tables: dict[str, StaticTable]):
        NarrowNode.__init__(self, [parent], key)
        self._setup(query, schema, tables)

    def identity(self) -> dict[str, Any]:
        return {**_Sql.identity(self), "runs": "per partition"}

    def param(self, scope: BatchScope) -> Any:
        return self._table_param(scope.index)

    def apply(self, records: list[Any], ctx: TaskContext, param: Any) -> list[Any]:
        if not records:
            return []
        return self._query(self._arrow(records, ctx), param)


class SqlBatchNode(_Sql, WideNode):
    """SQL over the whole batch: Arrow per upstream task, the statement in one task."""

    op = "sql"
    num_partitions = 1

    def __init__(self, parent: Node, key: str, query: str, schema: Any,
                 tables: dict[str, StaticTable]):
        WideNode.__init__(self, [parent], key)
        self._setup(query, schema, tables)

    def identity(self) -> dict[str, Any]:
        return {**_Sql.identity(self), "runs": "on the collected batch"}

    def param(self, scope: BatchScope, upstream_tasks: int) -> Any:
        return self._table_param(scope.index)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return [self._arrow(records, ctx) if records else None]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        pa = deps.pyarrow()
        blocks = [b for b in (inputs[0] or []) if b is not None and b.num_rows]
        if not blocks:
            if self.schema is None:  # nothing to type the empty batch with
                return [], None
            blocks = [self.schema.empty_table()]
        if len(blocks) == 1:
            batch = blocks[0]
        else:
            try:
                batch = pa.concat_tables(blocks)
            except pa.ArrowInvalid:  # inferred schemas differ between partitions
                batch = pa.concat_tables(blocks, promote_options="permissive")
        return self._query(batch, param), None
