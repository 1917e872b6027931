"""Where records enter and leave the graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etlcore.graph.base import Node
from etlcore.sink import Sink
from etlcore.source import Source


class SourceNode(Node):
    """One source: its stage has a task per planned partition range."""

    op = "source"
    kind = "source"

    def __init__(self, key: str, source: Source, plugin: str):
        super().__init__([], key)
        self.source = source
        self.plugin = plugin


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
    """``fn(batch_id, records)`` on the driver with the whole batch (records travel back)."""

    def __init__(self, node: Node, name: str, fn: Callable[[int, list[Any]], Any]):
        super().__init__(node, name)
        self.fn = fn
