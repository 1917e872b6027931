"""The graph a context builds: nodes, sources, outputs, and their stable keys."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from etlcore.deadletter import DeadLetterSink
from etlcore.graph.base import Node, fuse_narrow
from etlcore.graph.identity import compact, describe
from etlcore.graph.io import ForeachBatchOutput, Output, SinkOutput, SourceNode
from etlcore.plugin.registry import get_registry
from etlcore.sink import Sink
from etlcore.source import Source


class Graph:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.sources: list[SourceNode] = []
        self.outputs: list[Output] = []
        self.dead_letter_sink: Sink = DeadLetterSink()
        self._counts: Counter[str] = Counter()
        self._fingerprint: dict[str, Any] | None = None  # fixed when the graph is optimized

    def new_key(self, op: str) -> str:
        """``op-N``: the same job built the same way gets the same keys (checkpoints rely on it)."""
        self._counts[op] += 1
        return f"{op}-{self._counts[op]}"

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def add_source(self, source: Source, plugin: str, key: str | None = None) -> SourceNode:
        if not isinstance(source, Source):
            raise TypeError(f"expected an etlcore.source.Source, got {type(source).__name__}")
        if key is None:
            key = self.new_key(plugin)
        elif any(s.key == key for s in self.sources):
            from etlcore.errors import ConfigError

            raise ConfigError("source.name", "a name no other source of this job uses", key)
        node = SourceNode(key, source, plugin)
        self.sources.append(node)
        return self.add(node)  # type: ignore[return-value]

    def _sink_name(self, plugin: str) -> str:
        taken = {o.name for o in self.outputs}
        if plugin not in taken:
            return plugin
        n = 2
        while f"{plugin}-{n}" in taken:
            n += 1
        return f"{plugin}-{n}"

    def add_sink(self, node: Node, plugin: str, config: dict[str, Any]) -> SinkOutput:
        name = self._sink_name(plugin)
        sink = get_registry().get("sink", plugin).build(config, where=f"sink '{name}'")
        out = SinkOutput(node, name, sink, plugin)
        self.outputs.append(out)
        return out

    def add_sink_instance(self, node: Node, sink: Sink, plugin: str) -> SinkOutput:
        if not isinstance(sink, Sink):
            raise TypeError(f"expected an etlcore.sink.Sink, got {type(sink).__name__}")
        out = SinkOutput(node, self._sink_name(plugin), sink, plugin)
        self.outputs.append(out)
        return out

    def add_foreach(self, node: Node, fn: Callable[[int, list[Any]], Any]) -> None:
        self.outputs.append(ForeachBatchOutput(node, self.new_key("foreach_batch"), fn))

    def all_sinks(self) -> Iterator[tuple[str, Sink]]:
        for out in self.outputs:
            if isinstance(out, SinkOutput):
                yield out.name, out.sink
        yield "dead-letter", self.dead_letter_sink

    def reachable(self) -> list[Node]:
        """Nodes some output depends on, in construction order."""
        seen: set[int] = set()
        stack = [o.node for o in self.outputs]
        while stack:
            node = stack.pop()
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.parents)
        return [n for n in self.nodes if id(n) in seen]

    def optimize(self) -> None:
        """Fuse chains of narrow operators (once, before the first batch).

        The fingerprint is taken first: it describes the job as written, not
        how it happens to be fused.
        """
        if self._fingerprint is not None:
            return
        self._fingerprint = self._describe()
        live = self.reachable()
        consumers: Counter[int] = Counter()
        for node in live:
            for parent in node.parents:
                consumers[id(parent)] += 1
        for out in self.outputs:
            consumers[id(out.node)] += 1
        fuse_narrow(live, consumers)

    def stateful_nodes(self) -> list[Node]:
        return [n for n in self.reachable() if n.stateful]

    def fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must agree with: everything that changes the job's output.

        Every operator some output depends on, with its kind, its inputs and its
        parameters (``Node.identity()``, user functions by name and code), every
        source's identity (``Source.identity()``: the directory, topic, seed) and
        every output. Plain JSON, stored in the checkpoint's metadata; see
        :func:`etlcore.checkpoint.diff_fingerprints`.
        """
        return self._fingerprint if self._fingerprint is not None else self._describe()

    def _describe(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for node in self.reachable():
            if isinstance(node, SourceNode):
                identity = {"plugin": node.plugin, **node.source.identity()}
            else:
                identity = node.identity()
            nodes[node.key] = {"op": node.op, "inputs": [p.key for p in node.parents],
                               "stateful": node.stateful,
                               "identity": {k: compact(describe(v)) for k, v in identity.items()}}
        outputs = {o.name: {"input": o.node.key, "kind": type(o).__name__,
                            "plugin": getattr(o, "plugin", None)} for o in self.outputs}
        return {"nodes": nodes, "outputs": outputs}
