"""Keyed operators that move records between partitions.

reduce_by_key combines map-side with the hash-aggregation kernel, routes the
partial aggregates through the partition kernel (Kafka-compatible murmur2 for
bytes and str keys) and merges them reduce-side: Spark's combineByKey shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etlcore import _fast
from etlcore.batch import Partitions
from etlcore.graph.base import BatchRun, Node

Reducer = str | Callable[[Any, Any], Any]


def shuffle(parts: Partitions, n: int) -> Partitions:
    """Route (key, value) pairs of every partition into ``n`` partitions by key."""
    if n == 1:
        return [[r for p in parts for r in p]] if len(parts) != 1 else [parts[0]]
    out: Partitions = [[] for _ in range(n)]
    split = _fast.partition.partition_pairs
    for part in parts:
        for i, bucket in enumerate(split(part, n)):
            if bucket:
                out[i].extend(bucket)
    return out


class ShuffleNode(Node):
    """A keyed operator: its parent's batch routed into ``n`` partitions by key."""

    def __init__(self, parent: Node, key: str, num_partitions: int | None):
        super().__init__([parent], key)
        self.num_partitions = num_partitions

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0])
        if parts is None:
            return None
        return self.combine(run, parts, self.num_partitions or max(1, len(parts)))

    def combine(self, run: BatchRun, parts: Partitions, n: int) -> Partitions:
        raise NotImplementedError


class ReduceByKeyNode(ShuffleNode):
    op = "reduce_by_key"

    def __init__(self, parent: Node, key: str, reducer: Reducer, num_partitions: int | None):
        super().__init__(parent, key, num_partitions)
        self.reducer = reducer

    def combine(self, run: BatchRun, parts: Partitions, n: int) -> Partitions:
        hashagg, reducer = _fast.hashagg, self.reducer
        if n == 1:
            agg = hashagg.HashAgg(reducer)
            for part in parts:
                agg.add_pairs(part)
            return [agg.results()]
        partials = run.runner.map(lambda p: hashagg.combine(p, reducer), parts)
        return run.runner.map(lambda p: hashagg.merge([p], reducer), shuffle(partials, n))


class CountByValueNode(ShuffleNode):
    op = "count_by_value"

    def combine(self, run: BatchRun, parts: Partitions, n: int) -> Partitions:
        hashagg = _fast.hashagg
        counted = run.runner.map(hashagg.count_values, parts)
        if n == 1 and len(counted) == 1:
            return counted
        return run.runner.map(lambda p: hashagg.merge([p], "sum"), shuffle(counted, n))


class GroupByKeyNode(ShuffleNode):
    op = "group_by_key"

    def combine(self, run: BatchRun, parts: Partitions, n: int) -> Partitions:
        return run.runner.map(lambda p: list(group_values(p).items()), shuffle(parts, n))


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
