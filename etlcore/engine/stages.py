"""Cut an operator graph into stages at shuffles (Spark's DAG scheduler shape).

A stage starts at a *root*: a source (one task per source partition) or a
wide node (one task per reduce partition). Every narrow node reachable from
the root without crossing another wide node runs inside the root's tasks. A
stage ends at its *exits*: the map side of a wide consumer, a sink writer, or
records collected for the driver (``foreach_batch``). A narrow node below a
union belongs to the stage of each union input, as Spark's UnionRDD pipelines.

The :class:`Program` is everything a worker needs, built once per job: node
copies without parents or driver state, source readers and sink writers.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from etlcore.ckptstore import is_remote
from etlcore.graph.base import NarrowNode, Node, UnionNode, WideNode
from etlcore.graph.io import ForeachBatchOutput, SinkOutput, SourceNode
from etlcore.graph.projection import fields_read
from etlcore.sink import SinkWriter
from etlcore.source import DriverReader, SourceReader


@dataclass
class Exit:
    """Where one node's partitions leave a stage."""

    id: int
    node: str  # the in-stage node whose partitions leave
    kind: str  # "shuffle" | "sink" | "collect"
    target: str  # consumer node key (shuffle) or output name (sink, collect)
    side: int = 0  # which parent of the consumer (joins have two)


@dataclass
class Member:
    """A narrow node inside a stage; ``inputs`` are in-stage parents (a union may list several)."""

    key: str
    node: NarrowNode | None  # None for a union
    inputs: list[str]


@dataclass
class Stage:
    id: int
    root: str
    kind: str  # "source" | "wide"
    members: list[Member]
    exits: list[Exit]
    subparts: dict[str, int]  # partitions per task of each in-stage node (a union adds up)
    wide: WideNode | None = None  # the root's worker copy (wide stages)
    reader: SourceReader | None = None  # source stages; None: the driver reads
    rejects: bool = True  # source stages: whether the source may yield Rejected records
    fresh: bool = False  # source stages: read returns a new list, kept without a copy

    @property
    def on_driver(self) -> bool:
        """Run on the driver even when the runner ships tasks.

        A stateless reduce whose every output goes to ``foreach_batch`` returns all
        its records to the driver anyway: shipping its blocks out and its records
        back costs two serialisations for a merge the driver can do as it files
        them (Spark's ``countByValue`` and ``reduceByKeyLocally`` merge there too).
        """
        return (self.kind == "wide" and self.wide is not None and not self.wide.stateful
                and bool(self.exits) and all(ex.kind == "collect" for ex in self.exits))


@dataclass
class Program:
    """What every worker receives once per job."""

    job: str
    checkpoint_dir: str | None
    stages: list[Stage]
    consumers: dict[str, WideNode]  # worker copies, for their map sides
    writers: dict[str, SinkWriter]  # by output name
    encode_state: bool = False  # state crosses a process boundary as plain data
    compact_rows: bool = False  # a window emits compact rows: sinks get them as tuples
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)


def worker_copy(node: Node) -> Any:
    """A shallow copy without parents: what a task needs of a node, not the graph."""
    clone = copy.copy(node)
    clone.parents = []
    return clone


@dataclass
class StagePlan:
    """The driver's view: stages in run order plus the links between them."""

    program: Program
    nodes: dict[str, Node]
    feeders: dict[str, list[int]]  # wide node key -> stages with an exit into it
    sink_outputs: dict[str, SinkOutput]
    collect_outputs: dict[str, ForeachBatchOutput]
    stateful: list[WideNode]


def cut(live: list[Node], outputs: list[Any], job: str, checkpoint_dir: str | None,
        encode_state: bool) -> StagePlan:
    """Stages for the live nodes (construction order is a topological order)."""
    consumers_of: dict[int, list[Node]] = {id(n): [] for n in live}
    for node in live:
        for parent in node.parents:
            consumers_of[id(parent)].append(node)
    outputs_of: dict[int, list[Any]] = {}
    for out in outputs:
        outputs_of.setdefault(id(out.node), []).append(out)

    stages: list[Stage] = []
    feeders: dict[str, list[int]] = {}
    pruned = fields_read(live, outputs)
    roots = [n for n in live if n.kind in ("source", "wide")]
    for root in roots:
        stage = Stage(len(stages), root.key, root.kind, [], [], {root.key: 1})
        if isinstance(root, WideNode):
            stage.wide = worker_copy(root)
        elif isinstance(root, SourceNode):
            reader = root.source.reader()
            if root.key in pruned:  # the job reads only these fields of its records
                reader.prune_fields(pruned[root.key])
            stage.reader = None if isinstance(reader, DriverReader) else reader
            stage.rejects = bool(getattr(root.source, "rejects", True))
            stage.fresh = bool(getattr(root.source, "fresh_lists", False))
        inside = {id(root)}
        for node in live:
            if node.kind != "narrow" or id(node) in inside:
                continue
            ins = [p for p in node.parents if id(p) in inside]
            if not ins:
                continue
            inside.add(id(node))
            stage.subparts[node.key] = sum(stage.subparts[p.key] for p in ins)
            clone = None if isinstance(node, UnionNode) else worker_copy(node)
            stage.members.append(Member(node.key, clone, [p.key for p in ins]))
        for node in [root] + [n for n in live if id(n) in inside and n is not root]:
            for consumer in consumers_of[id(node)]:
                if consumer.kind != "wide":
                    continue
                for side, parent in enumerate(consumer.parents):
                    if parent is node:
                        stage.exits.append(Exit(len(stage.exits), node.key, "shuffle",
                                                consumer.key, side))
                        feeders.setdefault(consumer.key, []).append(stage.id)
            for out in outputs_of.get(id(node), []):
                kind = "sink" if isinstance(out, SinkOutput) else "collect"
                stage.exits.append(Exit(len(stage.exits), node.key, kind, out.name))
        stages.append(stage)

    sinks = {o.name: o for o in outputs if isinstance(o, SinkOutput)}
    program = Program(
        job=job,
        checkpoint_dir=None if checkpoint_dir is None
        else checkpoint_dir if is_remote(checkpoint_dir) else os.path.abspath(checkpoint_dir),
        stages=stages,
        consumers={n.key: worker_copy(n) for n in live if isinstance(n, WideNode)},
        writers={name: out.sink.writer() for name, out in sinks.items()},
        encode_state=encode_state,
        compact_rows=any(getattr(n, "compact_rows", False) for n in live),
    )
    return StagePlan(
        program=program,
        nodes={n.key: n for n in live},
        feeders={k: sorted(set(v)) for k, v in feeders.items()},
        sink_outputs=sinks,
        collect_outputs={o.name: o for o in outputs if isinstance(o, ForeachBatchOutput)},
        stateful=[n for n in live if isinstance(n, WideNode) and n.stateful],
    )
