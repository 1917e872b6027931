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


def right_unmatched(left: list[tuple[Any, Any]], right: list[tuple[Any, Any]]) -> list[Any]:
    """``(k, (None, w))`` for every right pair whose key has no left pair."""
    keys = {k for k, _ in left}
    return [(k, (None, w)) for k, w in right if k not in keys]


JOIN_KINDS = ("inner", "left", "right", "full")


class StreamJoinNode(WideNode):
    """Two streams' batches joined on key: inner, left, right or full outer (Spark's four).

    An outer side keeps its unmatched pairs with None for the other value. A
    right or full join runs when either side has data this batch.
    """

    op = "join_stream"

    def __init__(self, left: Node, right: Node, key: str, outer: bool,
                 num_partitions: int | None, how: str | None = None):
        super().__init__([left, right], key)
        self.how = how or ("left" if outer else "inner")
        self.outer = self.how in ("left", "full")
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {"outer": self.outer, "num_partitions": self.num_partitions}
        if self.how in ("right", "full"):  # inner and left keep their fingerprints
            ident["how"] = self.how
        return ident

    def skips(self, sides: list[Any]) -> bool:
        if self.how in ("right", "full"):
            return all(side is None for side in sides)
        return sides[0] is None

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return route(records, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        left = concat(inputs[0] or [[]])
        right = concat(inputs[1] or [[]])
        out = hash_join(left, build_table(right), self.outer)
        if self.how in ("right", "full"):
            out.extend(right_unmatched(left, right))
        return out, None


class CogroupNode(WideNode):
    """``(k, (left_values, right_values))`` for every key in either batch (Spark's cogroup)."""

    op = "cogroup"

    def __init__(self, left: Node, right: Node, key: str, num_partitions: int | None):
        super().__init__([left, right], key)
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        return {"num_partitions": self.num_partitions}

    def skips(self, sides: list[Any]) -> bool:
        return all(side is None for side in sides)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return route(records, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        groups: dict[Any, tuple[list[Any], list[Any]]] = {}
        for side in (0, 1):
            for k, v in concat(inputs[side] or [[]]):
                entry = groups.get(k)
                if entry is None:
                    entry = groups[k] = ([], [])
                entry[side].append(v)
        return list(groups.items()), None


class TransformWithNode(WideNode):
    """``fn(left_records, right_records[, batch_info])`` per batch (Spark's transformWith)."""

    op = "transform_with"
    num_partitions = 1

    def __init__(self, left: Node, right: Node, key: str, fn: Callable[..., Any],
                 pass_info: bool):
        super().__init__([left, right], key)
        self.fn = fn
        self.pass_info = pass_info

    def identity(self) -> dict[str, Any]:
        return {"fn": describe(self.fn), "pass_info": self.pass_info}

    def skips(self, sides: list[Any]) -> bool:
        return all(side is None for side in sides)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return [records]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        left = concat(inputs[0] or [[]])
        right = concat(inputs[1] or [[]])
        result = self.fn(left, right, ctx.info) if self.pass_info else self.fn(left, right)
        return (list(result) if result is not None else []), None
