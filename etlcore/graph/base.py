"""Graph nodes and the per-batch evaluation context.

A node's ``compute`` turns its parents' partitions for this batch into its
own, or returns ``None`` when the stream has no data at this batch time (a
window that only emits every ``slide``), as Spark's ``DStream.compute`` does.
Results are memoised per batch so a stream used by two outputs runs once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etlcore.batch import BatchInfo, BatchPlan, Partitions

if TYPE_CHECKING:
    from etlcore.runner import Runner


@dataclass
class DeadLetter:
    """A record that a stage refused, with why."""

    record: Any
    reason: str
    stage: str

    def to_dict(self, batch_id: int) -> dict[str, Any]:
        return {"batch_id": batch_id, "stage": self.stage, "reason": self.reason,
                "record": self.record}


@dataclass
class BatchRun:
    """Everything one batch's evaluation needs and collects."""

    info: BatchInfo
    plan: BatchPlan
    index: int  # batches since the job's first batch (batch_id, kept explicit for windows)
    runner: Runner
    parallelism: int
    cache: dict[int, Partitions | None] = field(default_factory=dict)
    records_in: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    late_records: int = 0
    state_only: bool = False  # recovery replay of a committed batch: rebuild state, write nothing

    def get(self, node: Node) -> Partitions | None:
        key = id(node)
        if key not in self.cache:
            self.cache[key] = node.compute(self)
        return self.cache[key]

    def dead_letter(self, record: Any, reason: str, stage: str) -> None:
        self.dead_letters.append(DeadLetter(record, reason, stage))


class Node:
    """One operator. ``key`` is stable across runs of the same job (checkpoints use it)."""

    op: str = "node"
    stateful: bool = False

    def __init__(self, parents: list[Node], key: str):
        self.parents = parents
        self.key = key

    def compute(self, run: BatchRun) -> Partitions | None:
        raise NotImplementedError

    # stateful nodes override these two; state must be plain data (see etlcore.codec)
    def snapshot(self) -> Any:
        return None

    def restore(self, state: Any) -> None:
        pass

    def state_size(self) -> int:
        """Number of keys or records held (reported as a metric)."""
        return 0


Transform = Callable[[Iterable[Any], "BatchRun"], Iterable[Any]]


class MapPartitionsNode(Node):
    """A narrow operator: ``transform(records, run)`` on every partition, no shuffle.

    Transforms take and return iterables, so a chain of narrow operators with no
    other consumer in between is fused into one pass (:func:`fuse_narrow`): no
    list per operator, one loop per partition, as Spark pipelines a stage.
    """

    op = "map_partitions"

    def __init__(self, parent: Node, key: str, transform: Transform, stage: str | None = None):
        super().__init__([parent], key)
        self.transform = transform
        self.stage = stage or key

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0])
        if parts is None:
            return None
        transform = self.transform
        return run.runner.map(lambda p: list(transform(p, run)), parts)


def fuse_narrow(nodes: list[Node], consumers: dict[int, int]) -> None:
    """Fold each narrow node into its narrow parent when it is that parent's only consumer.

    ``consumers`` counts, per node id, the nodes and outputs that read it.
    """
    for node in nodes:
        parent = node.parents[0] if node.parents else None
        if not (isinstance(node, MapPartitionsNode) and isinstance(parent, MapPartitionsNode)):
            continue
        if consumers.get(id(parent), 0) != 1:
            continue
        first, second = parent.transform, node.transform
        node.transform = lambda it, run, first=first, second=second: second(first(it, run), run)
        node.parents = list(parent.parents)


class UnionNode(Node):
    op = "union"

    def compute(self, run: BatchRun) -> Partitions | None:
        out: Partitions = []
        seen = False
        for parent in self.parents:
            parts = run.get(parent)
            if parts is not None:
                seen = True
                out.extend(parts)
        return out if seen else None


class TransformNode(Node):
    """``fn`` over the whole batch as one list (Spark's ``transform``)."""

    op = "transform"

    def __init__(self, parent: Node, key: str, fn: Callable[..., Any], pass_info: bool):
        super().__init__([parent], key)
        self.fn = fn
        self.pass_info = pass_info

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0])
        if parts is None:
            return None
        records = [r for p in parts for r in p]
        result = self.fn(records, run.info) if self.pass_info else self.fn(records)
        return [list(result) if result is not None else []]


class CountNode(Node):
    """The number of records in the batch, as a one-record stream."""

    op = "count"

    def __init__(self, parent: Node, key: str):
        super().__init__([parent], key)

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0])
        if parts is None:
            return None
        return [[sum(len(p) for p in parts)]]
