"""Processing-time (batch-time) windows, as Spark Streaming's window operators.

Window length and slide are whole multiples of the batch interval. A window
stream has data only at batch times that are multiples of the slide; between
them it has none, so outputs skip those batches. State lives in reduce
partitions: the raw window keeps one partition of batches, the keyed window
one sliding-window kernel per key partition.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from etlcore import _fast
from etlcore.errors import ConfigError
from etlcore.graph.base import BatchScope, Node, TaskContext, WideNode, concat
from etlcore.graph.shuffle import Reducer, field_names, readable, route


def batches_in(duration: float, interval: float, key: str) -> int:
    """``duration`` as a whole number of batch intervals, or a ConfigError."""
    count = round(duration / interval)
    if count < 1 or abs(count * interval - duration) > 1e-6 * max(1.0, duration):
        raise ConfigError(key, f"a positive multiple of the batch interval ({interval:g}s)",
                          duration)
    return count


class _SlidingNode(WideNode):
    stateful = True
    propagate_none = False

    def __init__(self, parent: Node, key: str, length: int, slide: int):
        super().__init__([parent], key)
        self.length = length
        self.slide = slide

    def identity(self) -> dict[str, Any]:
        return {"length": self.length, "slide": self.slide, "partitions": self.num_partitions}

    def emits(self, scope: BatchScope) -> bool:
        return (scope.index + 1) % self.slide == 0

    def param(self, scope: BatchScope, upstream_tasks: int) -> Any:
        return self.emits(scope)


class WindowNode(_SlidingNode):
    """All records of the last ``length`` batches, every ``slide`` batches."""

    op = "window"
    num_partitions = 1

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return [records]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        state.append(concat(inputs[0]) if inputs[0] else [])
        return ([r for batch in state for r in batch] if param else []), state

    def new_state(self) -> Any:
        return deque(maxlen=self.length)

    def encode_state(self, state: Any) -> Any:
        return list(state)

    def decode_state(self, data: Any) -> Any:
        return deque(data, maxlen=self.length)

    def state_len(self, state: Any) -> int:
        return sum(len(b) for b in state)


class ReduceByKeyAndWindowNode(_SlidingNode):
    """Per-key aggregate over the last ``length`` batches, via the window kernel.

    Each batch is one pane. With an inverse function (or the built-in "sum" and
    "count") the kernel adds the new pane and subtracts the expired one instead
    of merging every pane again.
    """

    op = "reduce_by_key_and_window"

    def __init__(self, parent: Node, key: str, reducer: Reducer, inverse: Any,
                 length: int, slide: int, num_partitions: int, filter_func: Any = None,
                 fields: tuple[Any, Any] | None = None):
        super().__init__(parent, key, length, slide)
        self.reducer = reducer
        self.inverse = inverse
        self.num_partitions = num_partitions
        self.filter_func = filter_func
        self.fields = fields
        # With fields the map side hands on per-key partials, not pairs: a pane sums the
        # partial counts, and a mean's (sum, count) partials cannot be pushed (pairs then).
        self._combines = fields is not None and reducer != "mean"
        self._pane_reducer: Reducer = "sum" if self._combines and reducer == "count" else reducer

    def identity(self) -> dict[str, Any]:
        ident = {**super().identity(), "reducer": self.reducer, "inverse": self.inverse}
        if self.filter_func is not None:
            ident["filter"] = self.filter_func
        if self.fields is not None:
            ident["fields"] = list(self.fields)
        return ident

    def reads_fields(self) -> frozenset[str] | None:
        return field_names(self.fields, self.reducer)

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        if self.fields is None:
            return route(records, n)
        try:
            return route(self._pairs(records), n)
        except Exception:  # noqa: BLE001 - a record without a field? find them, then again
            return route(self._pairs(readable(records, self.fields, ctx, self.key)), n)

    def _pairs(self, records: list[Any]) -> list[Any]:
        """``(key, value)`` pairs of the records' fields for the window's panes: per-key
        partials of this task's records, read by the hash-agg kernel with no Python call
        per record (a float sum may round differently from a record-by-record sum, as
        with ``reduce_by_key``); a mean's pairs one by one."""
        key, value = self.fields  # type: ignore[misc]
        if not self._combines:
            return [(r[key], r if value is None else r[value]) for r in records]
        agg = _fast.hashagg.HashAgg(self.reducer)
        agg.add_fields(records, key, value)
        return agg.partials()

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        state.push(concat(inputs[0]) if inputs[0] else [])
        if not param:
            return [], state
        result = state.result()
        if self.filter_func is not None:
            result = [kv for kv in result if self.filter_func(kv)]
        return result, state

    def new_state(self) -> Any:
        return _fast.window.SlidingWindow(self.length, self._pane_reducer, self.inverse)

    def encode_state(self, state: Any) -> Any:
        return state.to_state()

    def decode_state(self, data: Any) -> Any:
        return _fast.window.SlidingWindow.from_state(self.length, self._pane_reducer,
                                                     self.inverse, data)

    def state_len(self, state: Any) -> int:
        return len(state)


def _reduce_panes(panes: Any, func: Any) -> dict[Any, Any]:
    """Per-key ``func`` over the ``(key, value)`` pairs of ``panes`` (the hash-agg kernel)."""
    agg = _fast.hashagg.HashAgg(func)
    for pane in panes:
        agg.merge_partials(pane)  # a callable reducer's partials are plain values
    return dict(agg.results())


class InverseWindowNode(_SlidingNode):
    """Spark's ``reduceByKeyAndWindow(func, invFunc, ..., filterFunc)``, key for key.

    Each slide the previous window's values are carried forward: the panes that
    left are taken out with ``inverse``, the panes that came in are added with
    ``func``. As in Spark, a key whose records all left the window stays, with
    whatever the inverse left (0 for a count), until ``filter_func((k, v))``
    returns false; a key that is filtered out is forgotten (its later expiring
    values are ignored, as PySpark's left outer join ignores them).

    State per partition: the last ``length + slide`` panes (one per batch, each
    ``[[key, partial], ...]``) and the window's ``[[key, value], ...]``.
    """

    op = "reduce_by_key_and_window"

    def __init__(self, parent: Node, key: str, reducer: Any, inverse: Any, filter_func: Any,
                 length: int, slide: int, num_partitions: int):
        super().__init__(parent, key, length, slide)
        self.reducer = reducer
        self.inverse = inverse
        self.filter_func = filter_func
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "reducer": self.reducer, "inverse": self.inverse,
                "filter": self.filter_func}

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return route(records, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        panes, window = state
        agg = _fast.hashagg.HashAgg(self.reducer)
        if inputs[0]:
            agg.add_pairs(concat(inputs[0]))
        panes.append(agg.results())
        if not param:
            return [], state
        m, length, slide = len(panes), self.length, self.slide
        items = list(panes)
        old = _reduce_panes(items[max(0, m - slide - length):max(0, min(m - slide, m - length))],
                            self.reducer)
        new = _reduce_panes(items[max(0, m - length, m - slide):], self.reducer)
        for k, v in old.items():
            if k in window:
                window[k] = self.inverse(window[k], v)
        for k, v in new.items():
            window[k] = self.reducer(window[k], v) if k in window else v
        if self.filter_func is not None:
            for k in [k for k, v in window.items() if not self.filter_func((k, v))]:
                del window[k]
        return list(window.items()), state

    def new_state(self) -> Any:
        return (deque(maxlen=self.length + self.slide), {})

    def encode_state(self, state: Any) -> Any:
        panes, window = state
        return [[[list(kv) for kv in p] for p in panes], [[k, v] for k, v in window.items()]]

    def decode_state(self, data: Any) -> Any:
        panes, window = data
        return (deque(([tuple(kv) for kv in p] for p in panes), maxlen=self.length + self.slide),
                {k: v for k, v in window})

    def state_len(self, state: Any) -> int:
        return len(state[1])
