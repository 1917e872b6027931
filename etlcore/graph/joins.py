"""Joins of a keyed stream with a static data set or with another stream.

A static data set is broadcast: the driver ships the same table with every
task and each partition joins against it, no shuffle. A data set given as a
callable is reloaded on the driver every ``reload_every`` batches (a changing
dimension table). Two streams are shuffled by key into the same partitions
and hash-joined per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from etlcore.graph.base import BatchScope, NarrowNode, Node, TaskContext, WideNode, concat
from etlcore.graph.identity import compact, describe
from etlcore.graph.shuffle import route

Table = dict[Any, list[Any]]


def build_table(data: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> Table:
    """key -> list of values. A mapping gives one value per key; pairs may repeat keys."""
    table: Table = {}
    items = data.items() if isinstance(data, Mapping) else data
    for k, v in items:
        table.setdefault(k, []).append(v)
    return table


def hash_join(left: list[tuple[Any, Any]], table: Table, outer: bool) -> list[Any]:
    out = []
    append = out.append
    get = table.get
    for k, v in left:
        matches = get(k)
        if matches:
            for w in matches:
                append((k, (v, w)))
        elif outer:
            append((k, (v, None)))
    return out


class StaticJoinNode(NarrowNode):
    op = "join_static"

    def __init__(self, parent: Node, key: str, data: Any, outer: bool, reload_every: int | None):
        super().__init__([parent], key)
        self.outer = outer
        self.loader: Callable[[], Any] | None = data if callable(data) else None
        self.reload_every = reload_every or 1
        self.table: Table | None = None if self.loader else build_table(data)
        self.loaded_at: int | None = None

    def identity(self) -> dict[str, Any]:
        """The join's data counts too: a static table by content, a loader by its code."""
        data = self.loader if self.loader is not None else self.table
        return {"outer": self.outer, "reload_every": self.reload_every,
                "data": compact(describe(data))}

    def param(self, scope: BatchScope) -> Any:
        """The table, (re)loaded on the driver; shipped to the tasks of this batch."""
        if self.loader is not None and (
            self.table is None or self.loaded_at is None
            or scope.index - self.loaded_at >= self.reload_every
        ):
            self.table = build_table(self.loader())
            self.loaded_at = scope.index
        return self.table

    def apply(self, records: list[Any], ctx: TaskContext, param: Any) -> list[Any]:
        return hash_join(records, param, self.outer)

    def __getstate__(self) -> dict[str, Any]:
        # the table travels as the per-batch param; the loader stays on the driver
        return {**self.__dict__, "table": None, "loader": None}


class StreamJoinNode(WideNode):
    op = "join_stream"

    def __init__(self, left: Node, right: Node, key: str, outer: bool,
                 num_partitions: int | None):
        super().__init__([left, right], key)
        self.outer = outer
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        return {"outer": self.outer, "num_partitions": self.num_partitions}

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return route(records, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        left = concat(inputs[0] or [[]])
        right = concat(inputs[1] or [[]])
        return hash_join(left, build_table(right), self.outer), None
