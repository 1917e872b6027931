"""Keyed state across batches: Spark's ``updateStateByKey`` and ``mapWithState``.

Both shuffle ``(key, value)`` pairs by key into a fixed number of partitions
(the same key always lands in the same partition, so each partition owns its
keys' state) and keep one ordered table per partition. Tables are checkpointed
as lists of ``[key, state, last_seen]`` rows, not dicts, so key order (and thus
output order) survives a restore and a replayed batch emits exactly what the
first run emitted.

Timeouts are measured in batch time, never wall time, so a recovery replay
prunes the same keys at the same batch as the original run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from etlcore.config import parse_duration
from etlcore.errors import CheckpointError, ConfigError
from etlcore.graph.base import Node, TaskContext, WideNode, concat
from etlcore.graph.identity import compact, describe
from etlcore.graph.shuffle import group_values, route

if TYPE_CHECKING:
    from etlcore.stream import Stream

_EPS = 1e-9  # batch times are floats; "idle longer than" must not flip on rounding

# key -> [state, last batch time the key received data]
Table = dict[Any, list[Any]]


class _KeyedStateNode(WideNode):
    """Shared plumbing: routing, one table per reduce partition, timeouts.

    A partition's state is its table; the driver holds it between batches and
    hands it to the task of that partition (by reference in-process, encoded as
    rows across processes).
    """

    stateful = True
    propagate_none = False

    def __init__(self, parent: Node, key: str, fn: Callable[..., Any],
                 timeout: float | None, num_partitions: int):
        super().__init__([parent], key)
        self.fn = fn
        self.timeout = timeout
        self.num_partitions = num_partitions

    def identity(self) -> dict[str, Any]:
        return {"fn": describe(self.fn), "timeout": self.timeout,
                "partitions": self.num_partitions}

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        return route(records, n)

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        pairs = concat(inputs[0]) if inputs[0] else []
        return self._update(state, pairs, ctx.info.batch_time), state

    def _idle(self, last_seen: float | None, now: float) -> bool:
        # None: an initial-state key not yet through a batch (its clock starts at the first)
        return (self.timeout is not None and last_seen is not None
                and now - last_seen > self.timeout + _EPS)

    def _update(self, table: Table, pairs: list[Any], now: float) -> list[Any]:
        raise NotImplementedError

    def new_state(self) -> Any:
        return {}

    def encode_state(self, state: Any) -> Any:
        return [[k, row[0], row[1]] for k, row in state.items()]

    def decode_state(self, data: Any) -> Any:
        try:
            return {k: [s, seen] for k, s, seen in data}
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{self.key}: unreadable keyed state ({err})") from None

    def state_len(self, state: Any) -> int:
        return len(state)


class UpdateStateByKeyNode(_KeyedStateNode):
    """``fn(new_values, state) -> state`` for every key with new values or state.

    As in Spark, a key with state but no new values is still called (with
    ``[]``), so ``fn`` can age or drop it; returning None removes the key. With
    a timeout, a key that received no values for longer than it is dropped
    without a call (Spark has no timeout here; this bounds state for keys that
    simply go quiet).
    """

    op = "update_state_by_key"

    def __init__(self, parent: Node, key: str, fn: Callable[..., Any],
                 timeout: float | None, num_partitions: int,
                 initial: list[tuple[Any, Any]] | None = None):
        super().__init__(parent, key, fn, timeout, num_partitions)
        self.initial = initial

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        if self.initial is not None:  # the initial state counts: other values, other output
            ident["initial"] = compact(describe(self.initial))
        return ident

    def first_state(self, part: int) -> Any:
        """The initial ``(key, state)`` pairs this partition owns, routed as data will be."""
        if not self.initial:
            return self.new_state()
        block = route(self.initial, self.num_partitions)[part]
        return {k: [s, None] for k, s in block if s is not None}

    def _update(self, table: Table, pairs: list[Any], now: float) -> list[Any]:
        fn = self.fn
        groups = group_values(pairs)
        new_table: Table = {}
        for k, row in table.items():  # existing keys keep their order
            values = groups.pop(k, None)
            if values is None:
                if self._idle(row[1], now):
                    continue
                state = fn([], row[0])
                seen = now if row[1] is None else row[1]
            else:
                state = fn(values, row[0])
                seen = now
            if state is not None:
                new_table[k] = [state, seen]
        for k, values in groups.items():  # then new keys, in first-seen order
            state = fn(values, None)
            if state is not None:
                new_table[k] = [state, now]
        table.clear()
        table.update(new_table)
        return [(k, row[0]) for k, row in table.items()]


class State:
    """The per-key state handed to a ``map_with_state`` function (Spark's ``State``)."""

    __slots__ = ("_exists", "_value", "_timing_out", "_updated", "_removed")

    def __init__(self, exists: bool, value: Any, timing_out: bool = False):
        self._exists = exists
        self._value = value
        self._timing_out = timing_out
        self._updated = False
        self._removed = False

    def exists(self) -> bool:
        return self._exists

    def get(self) -> Any:
        """The state; KeyError if there is none (check :meth:`exists`, as in Spark)."""
        if not self._exists:
            raise KeyError("no state for this key (check state.exists() first)")
        return self._value

    def get_option(self, default: Any = None) -> Any:
        return self._value if self._exists else default

    def update(self, value: Any) -> None:
        """Replace the state. Not allowed on a timing-out key: it is being removed."""
        if self._timing_out:
            raise RuntimeError("cannot update the state of a key that is timing out")
        if self._removed:
            raise RuntimeError("cannot update a state removed in the same call")
        self._exists, self._value, self._updated = True, value, True

    def remove(self) -> None:
        if self._timing_out:
            raise RuntimeError("cannot remove the state of a key that is timing out")
        self._exists, self._value, self._removed = False, None, True

    def is_timing_out(self) -> bool:
        return self._timing_out

    def __repr__(self) -> str:
        inner = repr(self._value) if self._exists else "<none>"
        return f"State({inner}{', timing out' if self._timing_out else ''})"


class MapWithStateNode(_KeyedStateNode):
    """``fn(key, value, state) -> record`` per input record, then timeouts.

    Records are processed per key in arrival order. With a timeout, keys that
    received no data for longer than it (in batch time) get one last call with
    ``value=None`` and ``state.is_timing_out()`` true, after this batch's data;
    their mapped records are emitted and the key is removed (Spark's StateSpec).
    """

    op = "map_with_state"

    def _update(self, table: Table, pairs: list[Any], now: float) -> list[Any]:
        fn = self.fn
        out: list[Any] = []
        for k, v in pairs:
            row = table.get(k)
            state = State(row is not None, row[0] if row is not None else None)
            out.append(fn(k, v, state))
            if state._exists:
                table[k] = [state._value, now]
            elif row is not None:
                del table[k]
        if self.timeout is not None:
            expired = [k for k, row in table.items() if self._idle(row[1], now)]
            for k in expired:
                out.append(fn(k, None, State(True, table.pop(k)[0], timing_out=True)))
        return out


def _timeout(timeout: Any, op: str) -> float | None:
    if timeout is None:
        return None
    seconds = parse_duration(timeout, f"{op}.timeout")
    if seconds <= 0:
        raise ConfigError(f"{op}.timeout", "a positive duration", timeout)
    return seconds


def _initial_pairs(data: Any, op: str) -> list[tuple[Any, Any]] | None:
    """A mapping or ``(key, state)`` pairs as a list of pairs (Spark's ``initialRDD``)."""
    if data is None:
        return None
    items = data.items() if isinstance(data, Mapping) else data
    try:
        pairs = [(k, s) for k, s in items]
    except (TypeError, ValueError):
        raise ConfigError(f"{op}.initial_state", "a mapping key -> state or (key, state) pairs",
                          data) from None
    return pairs


def _build(stream: Stream, cls: type[_KeyedStateNode], fn: Callable[..., Any], timeout: Any,
           num_partitions: int | None, **extra: Any) -> Stream:
    from etlcore.stream import Stream, check_num_partitions

    op = cls.op
    if not callable(fn):
        raise ConfigError(f"{op}.fn", "a function", fn)
    n = check_num_partitions(num_partitions, f"{op}.num_partitions") or stream.ctx.parallelism
    graph = stream.ctx._graph
    node = cls(stream.node, graph.new_key(op), fn, _timeout(timeout, op), n, **extra)
    return Stream(stream.ctx, graph.add(node))


def update_state_by_key(stream: Stream, fn: Callable[[list[Any], Any], Any], timeout: Any = None,
                        num_partitions: int | None = None, initial_state: Any = None) -> Stream:
    """``(key, state)`` every batch for every key with state; see :class:`UpdateStateByKeyNode`.

    ``initial_state`` (a mapping or ``(key, state)`` pairs) is the state before the
    first batch, as Spark's ``initialRDD``: its keys are updated from the first
    batch on, with ``[]`` when they get no values. A checkpoint's state replaces it.
    """
    initial = _initial_pairs(initial_state, "update_state_by_key")
    return _build(stream, UpdateStateByKeyNode, fn, timeout, num_partitions, initial=initial)


def map_with_state(stream: Stream, fn: Callable[[Any, Any, State], Any], timeout: Any = None,
                   num_partitions: int | None = None) -> Stream:
    """Mapped records, one per input record (plus timeouts); see :class:`MapWithStateNode`."""
    return _build(stream, MapWithStateNode, fn, timeout, num_partitions)
