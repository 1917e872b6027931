"""The state-param seam: a node's per-batch param computed from a stateful node's state.

A stateful wide node (a running total) broadcasts its state to its own map
side and to a narrow node elsewhere in the graph, as etlcore.ml broadcasts a
model. Both must see the state as it stood before the batch, on every runner
(the processes runner keeps state encoded between batches).
"""

from __future__ import annotations

from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.errors import EtlcoreError
from etlcore.graph.base import BatchScope, NarrowNode, Node, TaskContext, WideNode
from etlcore.stream import Stream


class RunningTotal(WideNode):
    op = "running_total"
    stateful = True
    propagate_none = False
    num_partitions = 1

    def __init__(self, parent: Node, key: str):
        super().__init__([parent], key)
        self.reads_state_of = key

    def state_param(self, scope: BatchScope, states: list[Any]) -> Any:
        return states[0]

    def map_side(self, records, side, n, param, ctx):
        return [(param, sum(records))]  # what the map side saw, and its partial sum

    def reduce_side(self, part, inputs, state, param, ctx):
        blocks = inputs[0] or []
        assert all(seen == state for seen, _ in blocks)  # the broadcast is the state
        return [], state + sum(s for _, s in blocks)

    def new_state(self) -> Any:
        return 0

    def state_len(self, state: Any) -> int:
        return 1


class Stamp(NarrowNode):
    op = "stamp"

    def state_param(self, scope: BatchScope, states: list[Any]) -> Any:
        return states[0]

    def apply(self, records: list[Any], ctx: TaskContext, param: Any) -> list[Any]:
        return [(r, param) for r in records]


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_state_reaches_map_sides_and_other_nodes_as_before_the_batch(runner):
    ctx = StreamingContext(1, clock="manual", runner=runner, workers=2 if runner != "local"
                           else None)
    stream = ctx.queue_stream([[1, 2], [3], [4, 5]])
    stream = stream.union(ctx.queue_stream([[10], [20], [30]]))
    graph = ctx._graph
    total = RunningTotal(stream.node, graph.new_key("running_total"))
    graph.add(total)
    graph.add_foreach(total, lambda batch_id, records: None)
    stamp = Stamp([stream.node], graph.new_key("stamp"))
    stamp.reads_state_of = total.key
    got: list = []
    Stream(ctx, graph.add(stamp)).foreach_batch(lambda b, recs: got.append(sorted(recs)))
    ctx.run(batches=3)
    assert got == [[(1, 0), (2, 0), (10, 0)], [(3, 13), (20, 13)], [(4, 36), (5, 36), (30, 36)]]


def test_reading_the_state_of_a_stateless_node_is_refused():
    ctx = StreamingContext(1, clock="manual")
    stream = ctx.queue_stream([[1]])
    stamp = Stamp([stream.node], ctx._graph.new_key("stamp"))
    stamp.reads_state_of = "nothing-1"
    Stream(ctx, ctx._graph.add(stamp)).foreach_batch(lambda b, recs: None)
    ran: list = []
    ctx.add_listener(ran.append)
    with pytest.raises(EtlcoreError, match="reads the state of 'nothing-1'"):
        ctx.run(batches=1)
    assert ran == []  # refused before the first batch
