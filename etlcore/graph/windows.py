"""Processing-time (batch-time) windows, as Spark Streaming's window operators.

Window length and slide are whole multiples of the batch interval. A window
stream has data only at batch times that are multiples of the slide; between
them it has none (``compute`` returns None), so outputs skip those batches.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from etlcore import _fast
from etlcore.batch import Partitions
from etlcore.errors import ConfigError
from etlcore.graph.base import BatchRun, Node
from etlcore.graph.shuffle import Reducer, shuffle


def batches_in(duration: float, interval: float, key: str) -> int:
    """``duration`` as a whole number of batch intervals, or a ConfigError."""
    count = round(duration / interval)
    if count < 1 or abs(count * interval - duration) > 1e-6 * max(1.0, duration):
        raise ConfigError(key, f"a positive multiple of the batch interval ({interval:g}s)",
                          duration)
    return count


class WindowNode(Node):
    """All records of the last ``length`` batches, every ``slide`` batches."""

    op = "window"
    stateful = True

    def __init__(self, parent: Node, key: str, length: int, slide: int):
        super().__init__([parent], key)
        self.length = length
        self.slide = slide
        self.buffer: deque[list[Any]] = deque(maxlen=length)

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0])
        self.buffer.append([r for p in parts for r in p] if parts else [])
        if (run.index + 1) % self.slide:
            return None
        return [[r for batch in self.buffer for r in batch]]

    def snapshot(self) -> Any:
        return list(self.buffer)

    def restore(self, state: Any) -> None:
        self.buffer = deque(state, maxlen=self.length)

    def state_size(self) -> int:
        return sum(len(b) for b in self.buffer)


class ReduceByKeyAndWindowNode(Node):
    """Per-key aggregate over the last ``length`` batches, via the window kernel.

    Each batch is one pane. With an inverse function (or the built-in "sum" and
    "count") the kernel adds the new pane and subtracts the expired one instead
    of merging every pane again.
    """

    op = "reduce_by_key_and_window"
    stateful = True

    def __init__(self, parent: Node, key: str, reducer: Reducer, inverse: Any,
                 length: int, slide: int, num_partitions: int):
        super().__init__([parent], key)
        self.reducer = reducer
        self.inverse = inverse
        self.length = length
        self.slide = slide
        self.num_partitions = num_partitions
        self.windows = [self._new_window() for _ in range(num_partitions)]

    def _new_window(self) -> Any:
        return _fast.window.SlidingWindow(self.length, self.reducer, self.inverse)

    def compute(self, run: BatchRun) -> Partitions | None:
        parts = run.get(self.parents[0]) or []
        routed = shuffle(parts, self.num_partitions) if parts else [[]] * self.num_partitions
        for window, pairs in zip(self.windows, routed, strict=True):
            window.push(pairs)
        if (run.index + 1) % self.slide:
            return None
        return [w.result() for w in self.windows]

    def snapshot(self) -> Any:
        return [w.to_state() for w in self.windows]

    def restore(self, state: Any) -> None:
        cls = _fast.window.SlidingWindow
        self.windows = [cls.from_state(self.length, self.reducer, self.inverse, s) for s in state]

    def state_size(self) -> int:
        return sum(len(w) for w in self.windows)
