"""Graph nodes, and what a task sees while it runs them.

Nodes come in three kinds, and the kind decides where the graph is cut into
stages (Spark's DAG scheduler shape, see :mod:`etlcore.engine.stages`):

- a **source** node starts a stage with one task per source partition;
- a **narrow** node (:class:`NarrowNode`) runs per partition inside the task of
  its parent, fused with its neighbours: no records leave the task;
- a **wide** node (:class:`WideNode`) moves records between partitions. Its
  ``map_side`` runs at the end of every upstream task and returns one block
  per reduce partition (map-side combined where the operator allows); its
  ``reduce_side`` starts the next stage, one task per reduce partition, with
  the blocks routed to it and the state of that partition.

Nodes hold configuration and user functions only, never batch data or state:
state is a value the driver hands to a task and the task returns (see
:class:`WideNode`), so the same node runs in-process, in a worker process or
on a Spark executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Protocol

import msgspec

from etlcore.batch import BatchInfo
from etlcore.graph.identity import describe, user_functions
from etlcore.lineblock import LineBlock
from etlcore.records import Records


class DeadLetter(msgspec.Struct):
    """A record that a stage refused, with why and, when known, where it came from.

    A msgspec Struct, not a dataclass: made by a C call, with no Python
    ``__init__`` (W3 makes ~45,000 a run through ``map``: 5.4 -> 2.7 ms), left
    untracked by the cycle collector while its fields are plain values, and
    pickled as its four fields.
    """

    record: Any
    reason: str
    stage: str
    origin: str | None = None  # "in/a.csv line 3 (byte 40)", "partition 0, offset 17"

    def to_dict(self, batch_id: int) -> dict[str, Any]:
        """The letter as dead-letter sinks get it (``origin`` only when known).

        The record is the object itself; a sink that writes it somewhere makes it
        storable first (:func:`etlcore.encoding.storable_letter`).
        """
        letter = {"batch_id": batch_id, "stage": self.stage, "reason": self.reason,
                  "record": self.record}
        if self.origin is not None:
            letter["origin"] = self.origin
        return letter

    @staticmethod
    def dicts(letters: list[DeadLetter], batch_id: int) -> list[dict[str, Any]]:
        """``to_dict`` of every letter, in one comprehension (a batch may hold thousands)."""
        return [{"batch_id": batch_id, "stage": d.stage, "reason": d.reason, "record": d.record}
                if d.origin is None else d.to_dict(batch_id) for d in letters]


@dataclass
class TaskContext:
    """What operator code sees inside one task; everything it collects is returned by value."""

    info: BatchInfo
    index: int  # batches since the job's first batch
    dead_letters: list[DeadLetter] = field(default_factory=list)
    late_records: int = 0
    counters: dict[str, Any] = field(default_factory=dict)  # e.g. the latest event time seen

    def dead_letter(self, record: Any, reason: str, stage: str, origin: str | None = None) -> None:
        self.dead_letters.append(DeadLetter(record, reason, stage, origin))

    def dead_letter_many(self, records: Iterable[Any], reasons: Iterable[str], stage: str) -> None:
        """A batch's refused records in one call (a bulk decoder's failures), in order."""
        self.dead_letters.extend(map(DeadLetter, records, reasons, repeat(stage)))

    def max_counter(self, name: str, value: Any) -> None:
        old = self.counters.get(name)
        if old is None or value > old:
            self.counters[name] = value


@dataclass(frozen=True)
class BatchScope:
    """What the driver knows of a batch before its tasks run (for ``WideNode.param``)."""

    info: BatchInfo
    index: int


class Node:
    """One operator. ``key`` is stable across runs of the same job (checkpoints use it)."""

    op: str = "node"
    kind: str = "narrow"  # "source" | "narrow" | "wide"
    stateful: bool = False
    # The key of a stateful wide node whose current state this node's per-batch
    # param is computed from (see :meth:`state_param`), or None.
    reads_state_of: str | None = None

    def __init__(self, parents: list[Node], key: str):
        self.parents = parents
        self.key = key

    def identity(self) -> dict[str, Any]:
        """Parameters that change this operator's output (the checkpoint fingerprint).

        Values may be functions: the fingerprint describes them by name and code
        (:mod:`etlcore.graph.identity`), so editing a function counts as a change.
        """
        return {}

    def reads_fields(self) -> frozenset[str] | None:
        """The only parts of its input records this operator reads: the names of fields it
        takes from dict records (``key="user"``), or None (the default) when it may see
        whole records. A source whose records only such readers take may build just those
        fields of a JSON object (:mod:`etlcore.graph.projection`)."""
        return None

    def state_param(self, scope: BatchScope, states: list[Any]) -> Any:
        """Driver: per-batch data computed from the state of ``reads_state_of``.

        ``states`` holds that node's partition states as they stand before this
        batch runs (decoded). This is how a model reaches the tasks that use it,
        as MLlib broadcasts its model every batch: the map side of a training
        operator computes partial statistics with it, a scoring operator scores
        with it, and the model itself stays checkpointed state of one partition.
        It replaces ``param`` for a node that sets ``reads_state_of``.
        """
        return None


Transform = Callable[[Iterable[Any], TaskContext], Iterable[Any]]
LinesTransform = Callable[[LineBlock, TaskContext], Iterable[Any]]


class NarrowNode(Node):
    """Runs on each partition in the task that holds it."""

    kind = "narrow"

    def apply(self, records: list[Any], ctx: TaskContext, param: Any) -> list[Any]:
        raise NotImplementedError

    def stream(self, records: list[Any], ctx: TaskContext, param: Any) -> Iterable[Any]:
        """The output of :meth:`apply`, possibly lazy: for a consumer that reads it once
        (a wide operator's :meth:`~WideNode.map_fold`), so no list of it need be built."""
        return self.apply(records, ctx, param)

    def param(self, scope: BatchScope) -> Any:
        """Per-batch data computed on the driver and shipped with the task (a join table)."""
        return None


class MapPartitionsNode(NarrowNode):
    """``transform(records, ctx)`` on every partition.

    Transforms take and return iterables, so a chain of narrow operators with no
    other consumer in between is fused into one pass (:func:`fuse_narrow`): no
    list per operator, one loop per partition, as Spark pipelines a stage.
    """

    op = "map_partitions"

    def __init__(self, parent: Node, key: str, transform: Transform, stage: str | None = None,
                 per_record: bool = False, fresh: bool = False,
                 lines: LinesTransform | None = None):
        super().__init__([parent], key)
        self.transform = transform
        #: the transform of a :class:`~etlcore.lineblock.LineBlock` (the same records as
        #: ``block.lines()``, read out of its buffer): a task whose source offers blocks
        #: runs this instead (``parse_json``), so no object is made per line
        self.lines = lines
        self.stage = stage or key
        self.fused: list[str] = [key]
        #: each record's output depends on that record alone (map, filter, parse_json),
        #: so a task may run the transform on a partition's records chunk by chunk
        self.per_record = per_record
        #: the transform returns a new list each call that nothing else holds (parse_json's
        #: decoded records), so ``apply`` takes it as it is: copying a list of 45,000 tuples
        #: touches every tuple's refcount (~0.6 ms a W3 batch). Fusing keeps the last one's.
        self.fresh = fresh

    def identity(self) -> dict[str, Any]:
        """The transform and, through what it closes over, the user functions it runs."""
        return {"stage": self.stage, "calls": user_functions(self.transform),
                "code": describe(self.transform)}

    def apply(self, records: list[Any], ctx: TaskContext, param: Any) -> list[Any]:
        out = self.transform(records, ctx)
        return out if self.fresh and type(out) is list else list(out)

    def stream(self, records: list[Any], ctx: TaskContext, param: Any) -> Iterable[Any]:
        """The transform's output as it comes (a ``map`` or ``chain`` object): the chain's
        records are made one at a time as the consumer reads them."""
        return self.transform(records, ctx)

    def apply_lines(self, block: LineBlock, ctx: TaskContext, param: Any) -> list[Any]:
        """:meth:`apply` of ``block.lines()``, through ``lines`` (set when this is not None)."""
        assert self.lines is not None
        out = self.lines(block, ctx)
        return out if self.fresh and type(out) is list else list(out)


def fuse_narrow(nodes: list[Node], consumers: dict[int, int]) -> None:
    """Fold each map-partitions node into its parent when it is that parent's only consumer.

    ``consumers`` counts, per node id, the nodes and outputs that read it.
    """
    for node in nodes:
        parent = node.parents[0] if node.parents else None
        if not (isinstance(node, MapPartitionsNode) and isinstance(parent, MapPartitionsNode)):
            continue
        if consumers.get(id(parent), 0) != 1:
            continue
        first, second = parent.transform, node.transform
        node.transform = lambda it, ctx, first=first, second=second: second(first(it, ctx), ctx)
        lines = parent.lines
        node.lines = (None if lines is None else
                      lambda block, ctx, lines=lines, second=second: second(lines(block, ctx), ctx))
        node.fused = parent.fused + node.fused
        node.per_record = parent.per_record and node.per_record
        node.parents = list(parent.parents)


class UnionNode(Node):
    """The partitions of all parents, side by side (no data moves)."""

    op = "union"
    kind = "narrow"


class MapFold(Protocol):
    """A wide operator's map side as a fold (:meth:`WideNode.map_fold`): a task streams
    its partition's records in, then takes the blocks ``map_side`` would have returned."""

    def add(self, records: Iterable[Any]) -> int:
        """Fold ``records`` (any iterable, read once); returns how many were read."""
        ...

    def blocks(self) -> list[Any]:
        """One block per reduce partition, as ``map_side`` returns them."""
        ...


class WideNode(Node):
    """An operator that routes records by key into ``n`` reduce partitions.

    Driver: ``partitions`` picks ``n`` for the batch, ``param`` computes per-batch
    data (a watermark) and ``after_batch`` folds the tasks' counters back.
    Worker: ``map_side`` per upstream task, ``reduce_side`` per reduce partition.
    Stateful nodes keep one state value per reduce partition: ``new_state``,
    ``encode_state``/``decode_state`` (plain data for checkpoints and for the
    trip to another process) and ``state_len``; the driver owns the current
    values and ``driver_state``/``restore_driver_state`` cover what is global
    to the node (a watermark).
    """

    kind = "wide"
    propagate_none = True  # no input this batch -> no output; stateful nodes still run
    num_partitions: int | None = None
    #: a batch's tasks depend on nothing an earlier batch left on the driver: no state,
    #: nothing learnt in ``after_batch``, no per-batch table. With such operators only
    #: (their reduce on the driver), batch n+1 may start before n commits
    #: (``BatchExecutor.runs_ahead``)
    batch_independent: bool = False

    def partitions(self, parent_counts: list[int]) -> int:
        return self.num_partitions or max(1, *parent_counts)

    def param(self, scope: BatchScope, upstream_tasks: int) -> Any:
        """Per-batch data for this node's map and reduce sides (plain, small)."""
        return None

    def emits(self, scope: BatchScope) -> bool:
        """False at batch times where the stream has no data (a window between slides)."""
        return True

    def skips(self, sides: list[Any]) -> bool:
        """No tasks this batch: the first parent had no data (an outer join needs all empty)."""
        return self.propagate_none and sides[0] is None

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        raise NotImplementedError

    def map_fold(self, side: int, n: int, param: Any, ctx: TaskContext) -> MapFold | None:
        """The map side as a fold over records streamed in, or None (``map_side`` takes a
        list). An operator whose map side reads each record once and keeps only a
        summary of it (a map-side combine) offers one: the narrow chain before it then
        hands it its output lazily (:meth:`NarrowNode.stream`), so a ``flat_map``'s
        records are folded as they are made, never held in a list of the partition."""
        return None

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        """``inputs[side]``: the blocks routed to this partition (None: that side had no data)."""
        raise NotImplementedError

    def after_batch(self, counters: list[dict[str, Any]], param: Any) -> None:  # noqa: B027
        """Driver: fold the tasks' counters into node-global state."""

    # -- state (stateful nodes) -------------------------------------------------------
    def new_state(self) -> Any:
        return None

    def first_state(self, part: int) -> Any:
        """Partition ``part``'s state before the first batch (an initial state, routed by key)."""
        return self.new_state()

    def encode_state(self, state: Any) -> Any:
        return state

    def decode_state(self, data: Any) -> Any:
        return data

    def state_len(self, state: Any) -> int:
        return 0

    def driver_state(self) -> Any:
        return None

    def restore_driver_state(self, data: Any) -> None:  # noqa: B027
        pass


def concat(blocks: list[list[Any]]) -> list[Any]:
    if len(blocks) == 1:
        return blocks[0]
    return [r for b in blocks for r in b]


class TransformNode(WideNode):
    """``fn`` over the whole batch as one list (Spark's ``transform``)."""

    op = "transform"
    num_partitions = 1

    def __init__(self, parent: Node, key: str, fn: Callable[..., Any], pass_info: bool):
        super().__init__([parent], key)
        self.fn = fn
        self.pass_info = pass_info

    def identity(self) -> dict[str, Any]:
        return {"fn": describe(self.fn), "pass_info": self.pass_info}

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return [records]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        records = Records(concat(inputs[0] or []))  # with to_arrow() / to_pandas()
        result = self.fn(records, ctx.info) if self.pass_info else self.fn(records)
        return (list(result) if result is not None else []), None


class CountNode(WideNode):
    """The number of records in the batch, as a one-record stream."""

    op = "count"
    num_partitions = 1
    batch_independent = True

    def __init__(self, parent: Node, key: str):
        super().__init__([parent], key)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return [len(records)]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        return [sum(inputs[0] or [])], None
