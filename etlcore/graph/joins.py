"""Joins of a keyed stream with a static data set or with another stream.

A static data set is broadcast: every partition joins against the same
in-memory table, no shuffle. A data set given as a callable is reloaded every
``reload_every`` batches (a changing dimension table). Two streams are
shuffled by key into the same partitions and hash-joined per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from etlcore.batch import Partitions
from etlcore.graph.base import BatchRun, Node
from etlcore.graph.shuffle import shuffle

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


class StaticJoinNode(Node):
    op = "join_static"

    def __init__(self, parent: Node, key: str, data: Any, outer: bool, reload_every: int | None):
        super().__init__([parent], key)
        self.outer = outer
        self.loader: Callable[[], Any] | None = data if callable(data) else None
        self.reload_every = reload_every or 1
        self.table: Table | None = None if self.loader else build_table(data)
        self.loaded_at: int | None = None

    def _table(self, index: int) -> Table:
        if self.loader is not None and (
            self.table is None or self.loaded_at is None
            or index - self.loaded_at >= self.reload_every
        ):
            self.table = build_table(self.loader())
            self.loaded_at = index
        assert self.table is not None
        return self.table

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0])
        if parts is None:
            return None
        table = self._table(run.index)
        outer = self.outer
        return run.runner.map(lambda p: hash_join(p, table, outer), parts)


class StreamJoinNode(Node):
    op = "join_stream"

    def __init__(self, left: Node, right: Node, key: str, outer: bool,
                 num_partitions: int | None):
        super().__init__([left, right], key)
        self.outer = outer
        self.num_partitions = num_partitions

    def compute(self, run: BatchRun) -> Partitions | None:
        left = run.get(self.parents[0])
        if left is None:
            return None
        right = run.get(self.parents[1]) or []
        n = self.num_partitions or max(1, len(left), len(right))
        lparts = shuffle(left, n)
        rparts = shuffle(right, n) if right else [[] for _ in range(n)]
        outer = self.outer
        return run.runner.map(
            lambda lr: hash_join(lr[0], build_table(lr[1]), outer), list(zip(lparts, rparts, strict=True))
        )
