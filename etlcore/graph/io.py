"""Where records enter and leave the graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etlcore.batch import Partitions
from etlcore.graph.base import BatchRun, Node
from etlcore.sink import Sink
from etlcore.source import Rejected, Source


class SourceNode(Node):
    """Reads every partition's planned range of one source."""

    op = "source"

    def __init__(self, key: str, source: Source, plugin: str):
        super().__init__([], key)
        self.source = source
        self.plugin = plugin

    def compute(self, run: BatchRun) -> Partitions | None:
        ranges = run.plan.ranges.get(self.key, {})
        source = self.source

        def read(item: tuple[str, list[Any]]) -> list[Any]:
            partition, (start, end) = item
            if start == end:
                return []
            return list(source.read(partition, start, end))

        parts = run.runner.map(read, sorted(ranges.items()))
        run.records_in += sum(len(p) for p in parts)
        for i, part in enumerate(parts):
            if Rejected in map(type, part):  # a C-level scan: no Python call per record
                for r in part:
                    if type(r) is Rejected:
                        run.dead_letter(r.record, r.reason, self.key)
                parts[i] = [r for r in part if type(r) is not Rejected]
        return parts


class Output:
    """Something that consumes a stream every batch."""

    def __init__(self, node: Node, name: str):
        self.node = node
        self.name = name


class SinkOutput(Output):
    def __init__(self, node: Node, name: str, sink: Sink, plugin: str):
        super().__init__(node, name)
        self.sink = sink
        self.plugin = plugin


class ForeachBatchOutput(Output):
    def __init__(self, node: Node, name: str, fn: Callable[[int, list[Any]], Any]):
        super().__init__(node, name)
        self.fn = fn
