"""Keyed operators that move records between partitions.

reduce_by_key combines map-side with the hash-aggregation kernel, routes the
partial aggregates through the partition kernel (Kafka-compatible murmur2 for
bytes and str keys) and merges them reduce-side: Spark's combineByKey shape.
When the whole batch is one upstream task and one reduce partition, the map
side aggregates completely and the reduce side passes the result on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from etlcore import _fast
from etlcore.graph.base import BatchScope, Node, TaskContext, WideNode, concat

Reducer = str | Callable[[Any, Any], Any]


def route(pairs: list[Any], n: int) -> list[list[Any]]:
    """(key, value) pairs split into ``n`` blocks by key (Kafka's murmur2 for str/bytes)."""
    if n == 1:
        return [pairs]
    return _fast.partition.partition_pairs(pairs, n)


def shuffle(parts: list[list[Any]], n: int) -> list[list[Any]]:
    """Route (key, value) pairs of every partition into ``n`` partitions by key."""
    out: list[list[Any]] = [[] for _ in range(n)]
    for part in parts:
        for i, bucket in enumerate(route(part, n)):
            if bucket:
                out[i].extend(bucket)
    return out


class ShuffleNode(WideNode):
    """A keyed operator: its parent's batch routed into ``n`` partitions by key."""

    batch_independent = True

    def __init__(self, parent: Node, key: str, num_partitions: int | None):
        super().__init__([parent], key)
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        return {"num_partitions": self.num_partitions}



class CombineFold:
    """A combining operator's map side as a fold: raw records go into one aggregator as
    they come (:meth:`~etlcore.graph.base.WideNode.map_fold`), partials come out routed.

    ``add`` is the aggregator's fold of raw records (``count_each``, ``add_pairs``): it
    takes any iterable and returns how many records it read. ``complete``: the batch's
    only map task into one reduce partition, so the result is final (``"done"``).
    """

    def __init__(self, agg: Any, add: Callable[[Iterable[Any]], int], n: int, complete: bool):
        self.agg = agg
        self.add = add
        self.n = n
        self.complete = complete

    def blocks(self) -> list[Any]:
        """The final rows (``"done"``), or per reduce partition its keys' partials as two
        columns, ``(keys, partials)``: no tuple per key is made, marshalled to the
        driver, or taken apart by the merge (W1: ~9,000 words a task)."""
        if self.complete:
            return [("done", self.agg.results())]
        keys, partials = self.agg.partial_columns()
        return [("partial", cols)
                for cols in _fast.partition.partition_columns(keys, partials, self.n)]


class _CombiningNode(ShuffleNode):
    """Map-side partial aggregation; the driver says when the map side can finish alone."""

    def param(self, scope: BatchScope, upstream_tasks: int) -> Any:
        return upstream_tasks == 1

    def aggregator(self) -> tuple[Any, Callable[[Iterable[Any]], int]]:
        """A fresh aggregator and its fold of this operator's raw records."""
        raise NotImplementedError

    def merge(self, blocks: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        """The final rows of the ``(keys, partials)`` column blocks routed here."""
        raise NotImplementedError

    def _fold(self, n: int, param: Any) -> CombineFold:
        agg, add = self.aggregator()
        return CombineFold(agg, add, n, bool(param) and n == 1)

    def map_fold(self, side: int, n: int, param: Any, ctx: TaskContext) -> CombineFold | None:
        return self._fold(n, param)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        fold = self._fold(n, param)
        fold.add(records)
        return fold.blocks()

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        blocks = inputs[0] or []
        if len(blocks) == 1 and blocks[0][0] == "done":
            return blocks[0][1], None
        return self.merge([b for _, b in blocks]), None


def field_names(fields: tuple[Any, Any] | None, reducer: Any) -> frozenset[str] | None:
    """What a keyed operator with ``(key, value)`` references reads of a dict record
    (:meth:`Node.reads_fields`): the named fields, or None when it takes the record
    itself (no references, an index, or ``value=None`` with a reducer other than "count",
    which folds the records themselves)."""
    if fields is None:
        return None
    key, value = fields
    if not isinstance(key, str) or not (isinstance(value, str) or
                                        (value is None and reducer == "count")):
        return None
    return frozenset((key,) if value is None else (key, value))


def readable(records: list[Any], fields: tuple[Any, Any], ctx: TaskContext,
             node: str) -> list[Any]:
    """The records whose ``(key, value)`` fields can be read (the key hashed); the others
    are dead letters of ``node`` naming the field."""
    key, value = fields
    keep = []
    for record in records:
        try:
            hash(record[key])
            if value is not None:
                record[value]
        except Exception as err:  # noqa: BLE001 - the record is dead-lettered
            ctx.dead_letter(record, f"{type(err).__name__}: {err}", node)
            continue
        keep.append(record)
    return keep


class ReduceByKeyNode(_CombiningNode):
    """``reduce_by_key``; with ``fields`` (key, value references) the kernel reads records itself."""

    op = "reduce_by_key"

    def __init__(self, parent: Node, key: str, reducer: Reducer, num_partitions: int | None,
                 fields: tuple[Any, Any] | None = None):
        super().__init__(parent, key, num_partitions)
        self.reducer = reducer
        self.fields = fields

    def identity(self) -> dict[str, Any]:
        ident = {**super().identity(), "reducer": self.reducer}
        if self.fields is not None:
            ident["fields"] = list(self.fields)
        return ident

    def reads_fields(self) -> frozenset[str] | None:
        return field_names(self.fields, self.reducer)

    def aggregator(self) -> tuple[Any, Callable[[Iterable[Any]], int]]:
        agg = _fast.hashagg.HashAgg(self.reducer)
        if self.fields is None:
            return agg, agg.add_pairs
        key, value = self.fields

        def add_fields(records: Any) -> int:
            agg.add_fields(records, key, value)
            return len(records)

        return agg, add_fields

    def map_fold(self, side: int, n: int, param: Any, ctx: TaskContext) -> CombineFold | None:
        # with fields, a record without one is found by reading the list again (map_side)
        return None if self.fields is not None else self._fold(n, param)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        if self.fields is None:
            return super().map_side(records, side, n, param, ctx)
        try:
            return super().map_side(records, side, n, param, ctx)
        except Exception:  # noqa: BLE001 - a record without a field? find them, then again
            return super().map_side(self._readable(records, ctx), side, n, param, ctx)

    def _readable(self, records: list[Any], ctx: TaskContext) -> list[Any]:
        return readable(records, self.fields, ctx, self.key)  # type: ignore[arg-type]

    def merge(self, blocks: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        return _fast.hashagg.merge_columns(blocks, self.reducer)


class CountByValueNode(_CombiningNode):
    op = "count_by_value"

    def aggregator(self) -> tuple[Any, Callable[[Iterable[Any]], int]]:
        agg = _fast.hashagg.HashAgg("count")
        return agg, agg.count_each

    def merge(self, blocks: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        return _fast.hashagg.merge_columns(blocks, "sum")


class GroupByKeyNode(ShuffleNode):
    op = "group_by_key"

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return route(records, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        return list(group_values(concat(inputs[0] or [[]])).items()), None


def group_values(pairs: list[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    """key -> values in arrival order; keys in first-seen order (deterministic output)."""
    groups: dict[Any, list[Any]] = {}
    for k, v in pairs:
        group = groups.get(k)
        if group is None:
            groups[k] = [v]
        else:
            group.append(v)
    return groups


class RepartitionNode(WideNode):
    """The batch spread evenly over ``n`` partitions, round robin (Spark's repartition).

    Each upstream task deals its records out starting at a different partition,
    so many small tasks do not all fill partition 0. Deterministic: a replayed
    batch lands in the same partitions.
    """

    op = "repartition"
    batch_independent = True

    def __init__(self, parent: Node, key: str, num_partitions: int):
        super().__init__([parent], key)
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        return {"num_partitions": self.num_partitions}

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        start = (len(records) + ctx.index) % n
        return [records[(i - start) % n::n] for i in range(n)]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        return concat(inputs[0] or [[]]), None


class ReduceNode(WideNode):
    """All records of the batch folded with ``fn(a, b)`` into one (none for an empty batch).

    Each upstream task folds its own records; the single reduce partition folds
    those partials, as Spark's ``DStream.reduce`` does through a one-partition
    reduceByKey.
    """

    op = "reduce"
    batch_independent = True
    num_partitions = 1

    def __init__(self, parent: Node, key: str, fn: Callable[[Any, Any], Any]):
        super().__init__([parent], key)
        self.fn = fn

    def identity(self) -> dict[str, Any]:
        return {"fn": self.fn}

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return [[functools.reduce(self.fn, records)] if records else []]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        partials = concat(inputs[0] or [[]])
        return ([functools.reduce(self.fn, partials)] if partials else []), None
