"""The stream API: a lazy graph of operators with Spark Streaming's names.

A :class:`Stream` is a handle on one graph node. Operators return new streams;
nothing runs until the context starts. Keyed operators take records that are
``(key, value)`` tuples (use :meth:`Stream.key_by` or :meth:`Stream.map`).
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Iterable
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING, Any

from etlcore._fast._common import is_field
from etlcore.config import parse_duration
from etlcore.errors import ConfigError
from etlcore.graph.base import (
    CountNode,
    MapPartitionsNode,
    Node,
    Transform,
    TransformNode,
    UnionNode,
)
from etlcore.graph.joins import CogroupNode, StaticJoinNode, StreamJoinNode, TransformWithNode
from etlcore.graph.shuffle import (
    CountByValueNode,
    GroupByKeyNode,
    ReduceByKeyNode,
    ReduceNode,
    Reducer,
    RepartitionNode,
)
from etlcore.graph.windows import (
    InverseWindowNode,
    ReduceByKeyAndWindowNode,
    WindowNode,
    batches_in,
)
from etlcore.naming import missing_attribute
from etlcore.records import Records

if TYPE_CHECKING:
    from etlcore.context import StreamingContext
    from etlcore.lineblock import LineBlock

_BUILTIN_REDUCERS = ("sum", "count", "min", "max", "mean")
_FOLDS: dict[str, Callable[[Any, Any], Any]] = {"sum": operator.add, "min": min, "max": max}


def _check_reducer(func: Any, key: str) -> Reducer:
    if func in _BUILTIN_REDUCERS or callable(func):
        return func
    raise ConfigError(key, "a function f(a, b) or one of " + ", ".join(_BUILTIN_REDUCERS), func)


def check_num_partitions(value: Any, key: str) -> int | None:
    """``value`` if it is None (the context's parallelism) or a positive integer.

    Refused when the operator is declared, before anything runs: ``0`` would
    otherwise silently mean "the default" (``value or parallelism``), and a
    negative or fractional count fails deep inside a shuffle.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ConfigError(key, "a positive integer, or None for the default", value)


def _positional_count(fn: Callable[..., Any]) -> int:
    """How many positional parameters ``fn`` takes (0 when it cannot be inspected)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _check_fold(func: Any, key: str) -> Callable[[Any, Any], Any]:
    """A two-argument function, or "sum"/"min"/"max" as one."""
    if callable(func):
        return func
    if func in _FOLDS:
        return _FOLDS[func]
    raise ConfigError(key, "a function f(a, b) or one of " + ", ".join(_FOLDS), func)


def _check_fields(key: Any, value: Any, op: str) -> tuple[Any, Any] | None:
    """``(key, value)`` field references of a keyed operator, or None when neither is given."""
    if key is None and value is None:
        return None
    for ref, name in ((key, "key"), (value, "value")):
        if not (is_field(ref) or (ref is None and name == "value")):
            raise ConfigError(f"{op}.{name}", "a field reference (an int index or a str key)",
                              ref)
    return (key, value)


def _check_function(fn: Any, key: str) -> Any:
    if fn is None or callable(fn):
        return fn
    raise ConfigError(key, "a function", fn)


def _as_list(records: Iterable[Any]) -> list[Any]:
    """What map_partitions functions get: a list (fusion may hand over an iterator)."""
    return records if isinstance(records, list) else list(records)


def _reason(err: Exception) -> str:
    """An exception's ``reason`` attribute (cleanse's Reject) or its type and message."""
    return getattr(err, "reason", None) or f"{type(err).__name__}: {err}"


def _guarded(fn: Callable[[Any], Any], kind: str, stage: str) -> Callable[[Iterable[Any], Any], list[Any]]:
    """Per-record error routing: a record whose function raises goes to the dead letters.

    map and filter run at C speed (``list.extend`` over ``map``); when ``fn``
    raises, the items appended so far stay, which tells which record failed, and
    the loop resumes after it.
    """

    def apply(part: Iterable[Any], run: Any) -> list[Any]:
        records = _as_list(part)
        it = iter(records)
        results: list[Any] = []
        failures = 0
        while True:
            try:
                results.extend(map(fn, it))
                break
            except Exception as err:  # noqa: BLE001 - user code; the record is dead-lettered
                run.dead_letter(records[len(results)], _reason(err), stage)
                results.append(_FAILED)
                failures += 1
        if kind == "filter":
            return list(compress(records, (r is not _FAILED and r for r in results)))
        return [r for r in results if r is not _FAILED] if failures else results

    if kind == "flat_map":
        return _guarded_flat_map(fn, stage)
    return apply


def _guarded_flat_map(fn: Callable[[Any], Any], stage: str) -> Callable[[Iterable[Any], Any], list[Any]]:
    """flat_map results may be lazy: materialise each inside the guard."""

    def apply(part: Iterable[Any], run: Any) -> list[Any]:
        out: list[Any] = []
        for record in part:
            try:
                result = list(fn(record))
            except Exception as err:  # noqa: BLE001 - user code; the record is dead-lettered
                run.dead_letter(record, _reason(err), stage)
                continue
            out.extend(result)
        return out

    return apply


_FAILED = object()  # marks a record whose function raised


def _with_records(fn: Callable[[int, list[Any]], Any]) -> Callable[[int, list[Any]], Any]:
    """``fn`` called with the batch as :class:`Records` (a list with to_arrow/to_pandas)."""

    def call(batch_id: int, records: list[Any]) -> Any:
        return fn(batch_id, records if isinstance(records, Records) else Records(records))

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


class Stream:
    """A stream of records, computed batch by batch."""

    def __init__(self, ctx: StreamingContext, node: Node):
        self.ctx = ctx
        self.node = node

    def __getattr__(self, name: str) -> Any:
        """Only reached for a missing name: Spark's camelCase gets a "did you mean"."""
        raise missing_attribute(self, name)

    def _narrow(self, op: str, transform: Transform, stage: str | None = None,
                per_record: bool = False) -> Stream:
        key = self.ctx._graph.new_key(op)
        node = MapPartitionsNode(self.node, key, transform, stage=stage, per_record=per_record)
        return Stream(self.ctx, self.ctx._graph.add(node))

    def _derive(self, node_cls: type[Node], op: str, *args: Any, **kwargs: Any) -> Stream:
        node = node_cls(self.node, self.ctx._graph.new_key(op), *args, **kwargs)
        return Stream(self.ctx, self.ctx._graph.add(node))

    def _guarded(self, op: str, fn: Callable[[Any], Any], on_error: str | None) -> Stream | None:
        if on_error is None or on_error == "raise":
            return None
        if on_error != "dead_letter":
            raise ConfigError(f"{op}.on_error", "'raise' or 'dead_letter'", on_error)
        return self.guard(fn, op)

    def guard(self, fn: Callable[[Any], Any], kind: str = "map", *,
              stage: str | None = None) -> Stream:
        """A map, flat_map or filter whose failing records go to the dead letters.

        The dead letter carries the error (or an exception's ``reason``) and
        ``stage`` (default: the operator's key, e.g. ``map-2``).
        """
        if kind not in ("map", "flat_map", "filter"):
            raise ConfigError("guard.kind", "'map', 'flat_map' or 'filter'", kind)
        key = self.ctx._graph.new_key(kind)
        node = MapPartitionsNode(self.node, key, _guarded(fn, kind, stage or key), stage=stage,
                                 per_record=True)
        return Stream(self.ctx, self.ctx._graph.add(node))

    def map_partitions_with_dead_letters(
        self, fn: Callable[[list[Any], Callable[[Any, str, str], None]], Iterable[Any]]
    ) -> Stream:
        """``fn(records, dead_letter)``; ``dead_letter(record, reason, stage)`` refuses one."""
        return self._narrow(
            "map_partitions", lambda part, run: fn(_as_list(part), run.dead_letter))

    # -- narrow operators ---------------------------------------------------

    def map(self, fn: Callable[[Any], Any], *, on_error: str | None = None) -> Stream:
        """``fn`` on every record. ``on_error="dead_letter"`` routes failing records."""
        return self._guarded("map", fn, on_error) or self._narrow(
            "map", lambda part, run: map(fn, part), per_record=True
        )

    def flat_map(self, fn: Callable[[Any], Iterable[Any]], *, on_error: str | None = None) -> Stream:
        """Zero or more records out for every record in."""
        return self._guarded("flat_map", fn, on_error) or self._narrow(
            "flat_map", lambda part, run: chain.from_iterable(map(fn, part)), per_record=True
        )

    def filter(self, fn: Callable[[Any], bool], *, on_error: str | None = None) -> Stream:
        """Keep the records for which ``fn`` is true."""
        return self._guarded("filter", fn, on_error) or self._narrow(
            "filter", lambda part, run: filter(fn, part), per_record=True
        )

    def parse_json(self, schema: Any = None, *, required: list[str] | None = None,
                   output: str | None = None) -> Stream:
        """JSON text to records, one C pass per partition; misfits go to the dead letters.

        Without ``schema``: any JSON object, as a dict (other values are refused).
        With ``schema`` (field -> type, or a msgspec.Struct) the decoder parses,
        validates and projects at once: ``required`` fields must be present and
        not null; ``output`` is ``"dict"``, ``"tuple"`` or ``"struct"``. The dead
        letter carries the decoder's reason. See :mod:`etlcore.jsondecode`.
        """
        from etlcore.jsondecode import JsonDecoder

        decoder = JsonDecoder(schema, required, output,  # type: ignore[arg-type]
                              objects_only=True, key="parse_json")
        key = self.ctx._graph.new_key("parse_json")

        def apply(part: Iterable[Any], run: Any) -> list[Any]:
            records = _as_list(part)
            values, at, reasons = decoder.decode_split(records)
            if at:  # no Python step per misfit: taken, lettered and kept in C calls
                run.dead_letter_many(list(map(records.__getitem__, at)), reasons, key)
            return values

        def apply_lines(block: LineBlock, run: Any) -> list[Any]:
            """A source's lines read out of its buffer: no bytes object per line."""
            values, refused, reasons = decoder.decode_lines(block)
            if refused:
                run.dead_letter_many(refused, reasons, key)
            return values

        node = MapPartitionsNode(self.node, key, apply, per_record=True, fresh=True,
                                 lines=apply_lines)
        return Stream(self.ctx, self.ctx._graph.add(node))

    def map_partitions(self, fn: Callable[[list[Any]], Iterable[Any]]) -> Stream:
        """``fn`` on each partition's list of records (open one connection per partition)."""
        return self._narrow("map_partitions", lambda part, run: fn(_as_list(part)))

    def key_by(self, fn: Callable[[Any], Any]) -> Stream:
        """``(fn(record), record)`` pairs, ready for keyed operators."""
        return self._narrow("key_by", lambda part, run: ((fn(r), r) for r in part),
                            per_record=True)

    def map_values(self, fn: Callable[[Any], Any]) -> Stream:
        """``(k, fn(v))`` for every pair, keys untouched."""
        return self._narrow("map_values", lambda part, run: ((k, fn(v)) for k, v in part),
                            per_record=True)

    def flat_map_values(self, fn: Callable[[Any], Iterable[Any]]) -> Stream:
        """``(k, w)`` for every ``w`` in ``fn(v)``: zero or more pairs per pair, keys untouched."""
        return self._narrow("flat_map_values",
                            lambda part, run: ((k, w) for k, v in part for w in fn(v)))

    def union(self, *others: Stream) -> Stream:
        """Records of this stream and the others, batch by batch."""
        nodes = [self.node] + [o.node for o in others]
        key = self.ctx._graph.new_key("union")
        return Stream(self.ctx, self.ctx._graph.add(UnionNode(nodes, key)))

    def transform(self, fn: Callable[..., Iterable[Any]]) -> Stream:
        """``fn(records)`` or ``fn(records, batch_info)`` over the whole batch."""
        return self._derive(TransformNode, "transform", fn, _positional_count(fn) >= 2)

    def transform_with(self, other: Stream, fn: Callable[..., Iterable[Any]]) -> Stream:
        """``fn(records, other_records)`` or ``fn(records, other_records, batch_info)`` per batch.

        Spark's ``transformWith``: both streams' whole batches, any records out.
        Runs when either stream has data this batch.
        """
        if not isinstance(other, Stream):
            raise ConfigError("transform_with.other", "a Stream of the same context", other)
        if not callable(fn):
            raise ConfigError("transform_with.fn", "a function f(records, other_records)", fn)
        key = self.ctx._graph.new_key("transform_with")
        node = TransformWithNode(self.node, other.node, key, fn, _positional_count(fn) >= 3)
        return Stream(self.ctx, self.ctx._graph.add(node))

    def repartition(self, num_partitions: int) -> Stream:
        """The same records spread evenly over ``num_partitions`` partitions (a shuffle)."""
        if num_partitions is None:
            raise ConfigError("repartition.num_partitions", "a positive integer", None)
        n = check_num_partitions(num_partitions, "repartition.num_partitions")
        return self._derive(RepartitionNode, "repartition", n)

    def reduce(self, func: Callable[[Any, Any], Any] | str) -> Stream:
        """One record per batch: every record folded with ``func(a, b)`` (none if empty)."""
        return self._derive(ReduceNode, "reduce", _check_fold(func, "reduce.func"))

    def count(self) -> Stream:
        """One record per batch: the number of records in it."""
        return self._derive(CountNode, "count")

    # -- keyed operators (shuffles) -------------------------------------------

    def reduce_by_key(self, func: Reducer, num_partitions: int | None = None, *,
                      key: int | str | None = None, value: int | str | None = None) -> Stream:
        """Combine the values of each key: ``func(a, b)`` or "sum"/"count"/"min"/"max"/"mean".

        Records are ``(key, value)`` pairs, or with field references any tuple,
        list or dict records: ``key=1, value=2`` or ``key="user", value="amount"``
        (``value=None``: the record itself), read by the kernel with no Python
        call per record; a record missing a field is a dead letter.
        """
        reducer = _check_reducer(func, "reduce_by_key.func")
        n = check_num_partitions(num_partitions, "reduce_by_key.num_partitions")
        fields = _check_fields(key, value, "reduce_by_key")
        return self._derive(ReduceByKeyNode, "reduce_by_key", reducer, n, fields)

    def group_by_key(self, num_partitions: int | None = None) -> Stream:
        """``(key, [values...])`` per key, values in arrival order."""
        n = check_num_partitions(num_partitions, "group_by_key.num_partitions")
        return self._derive(GroupByKeyNode, "group_by_key", n)

    def cogroup(self, other: Stream, num_partitions: int | None = None) -> Stream:
        """``(k, ([values here], [values there]))`` for every key in either batch."""
        if not isinstance(other, Stream):
            raise ConfigError("cogroup.other", "a Stream of the same context", other)
        n = check_num_partitions(num_partitions, "cogroup.num_partitions")
        key = self.ctx._graph.new_key("cogroup")
        return Stream(self.ctx, self.ctx._graph.add(CogroupNode(self.node, other.node, key, n)))

    def count_by_value(self, num_partitions: int | None = None) -> Stream:
        """``(record, count)`` for every distinct record."""
        n = check_num_partitions(num_partitions, "count_by_value.num_partitions")
        return self._derive(CountByValueNode, "count_by_value", n)

    # -- windows (processing time) ---------------------------------------------

    def _window_sizes(self, op: str, length: Any, slide: Any) -> tuple[int, int]:
        if length is None:
            raise ConfigError(f"{op}.length", "a window length (a duration)", None)
        interval = self.ctx.batch_interval
        n_len = batches_in(parse_duration(length, f"{op}.length"), interval, f"{op}.length")
        n_slide = (
            1 if slide is None
            else batches_in(parse_duration(slide, f"{op}.slide"), interval, f"{op}.slide")
        )
        return n_len, n_slide

    def window(self, length: Any, slide: Any = None) -> Stream:
        """All records of the last ``length`` seconds, every ``slide`` seconds."""
        n_len, n_slide = self._window_sizes("window", length, slide)
        return self._derive(WindowNode, "window", n_len, n_slide)

    def reduce_by_key_and_window(
        self,
        func: Reducer,
        inv_func: Callable[[Any, Any], Any] | None = None,
        length: Any = None,
        slide: Any = None,
        num_partitions: int | None = None,
        filter_func: Callable[[tuple[Any, Any]], bool] | None = None,
        *,
        key: int | str | None = None,
        value: int | str | None = None,
    ) -> Stream:
        """Per-key aggregate over a sliding window, Spark's ``reduceByKeyAndWindow``.

        Records are ``(key, value)`` pairs, or with field references (as
        :meth:`reduce_by_key`) any tuple, list or dict records: ``key="user"``
        (``value=None``: the record itself, what "count" needs), read by the
        kernel with no Python call per record; a record missing a field is a
        dead letter. Not with ``inv_func``.

        Without ``inv_func`` (and with the built-ins) a window holds the keys that
        have records in it. With ``inv_func`` the window is carried forward slide
        by slide (the panes that left are taken out with ``inv_func``), and, as in
        Spark, a key stays after its records left, with the value the inverse
        left (0 for a sum), until ``filter_func((key, value))`` is false.
        ``filter_func`` filters the output in both cases.
        """
        reducer = _check_reducer(func, "reduce_by_key_and_window.func")
        if inv_func is not None and not (callable(reducer) and callable(inv_func)):
            raise ConfigError(
                "reduce_by_key_and_window.inv_func",
                "a function, and only with a function func (the built-in 'sum' and 'count' "
                "are already incremental)", inv_func)
        _check_function(filter_func, "reduce_by_key_and_window.filter_func")
        fields = _check_fields(key, value, "reduce_by_key_and_window")
        if fields is not None and inv_func is not None:
            raise ConfigError("reduce_by_key_and_window.key",
                              "no field references with inv_func (map to (key, value) pairs)",
                              key)
        n_len, n_slide = self._window_sizes("reduce_by_key_and_window", length, slide)
        n = check_num_partitions(num_partitions, "reduce_by_key_and_window.num_partitions")
        n = n or self.ctx.parallelism
        if inv_func is not None:
            return self._derive(InverseWindowNode, "reduce_by_key_and_window", reducer,
                                inv_func, filter_func, n_len, n_slide, n)
        return self._derive(ReduceByKeyAndWindowNode, "reduce_by_key_and_window",
                            reducer, None, n_len, n_slide, n, filter_func, fields)

    def group_by_key_and_window(self, length: Any, slide: Any = None,
                                num_partitions: int | None = None) -> Stream:
        """``(key, [values...])`` over a sliding window (Spark: window, then groupByKey)."""
        check_num_partitions(num_partitions, "group_by_key_and_window.num_partitions")
        return self.window(length, slide).group_by_key(num_partitions)

    def reduce_by_window(self, func: Callable[[Any, Any], Any] | str,
                         inv_func: Callable[[Any, Any], Any] | None = None,
                         length: Any = None, slide: Any = None) -> Stream:
        """One record per slide: the window's records folded with ``func``.

        With ``inv_func`` the value is carried forward slide by slide (Spark's
        incremental form): once the window has held data it emits every slide,
        e.g. 0 for a sum after every record left. Without, an empty window
        emits nothing, as Spark's ``window(...).reduce(func)``.
        """
        fold = _check_fold(func, "reduce_by_window.func")
        if inv_func is None:
            self._window_sizes("reduce_by_window", length, slide)
            return self.window(length, slide).reduce(fold)
        if not callable(inv_func):
            raise ConfigError("reduce_by_window.inv_func", "a function f(a, b)", inv_func)
        n_len, n_slide = self._window_sizes("reduce_by_window", length, slide)
        keyed = self._narrow("reduce_by_window", lambda part, run: zip(repeat(None), part))
        windowed = keyed._derive(InverseWindowNode, "reduce_by_key_and_window", fold, inv_func,
                                 None, n_len, n_slide, 1)
        return windowed._narrow("values", lambda part, run: (v for _, v in part))

    def count_by_value_and_window(self, length: Any, slide: Any = None,
                                  num_partitions: int | None = None) -> Stream:
        """``(record, count)`` over a sliding window."""
        check_num_partitions(num_partitions, "count_by_value_and_window.num_partitions")
        pairs = self._narrow("pair_with_one", lambda part, run: zip(part, repeat(1)))
        return pairs.reduce_by_key_and_window("sum", None, length, slide, num_partitions)

    def count_by_window(self, length: Any, slide: Any = None) -> Stream:
        """The number of records in a sliding window, one record per slide."""
        return self.window(length, slide).count()

    # -- joins --------------------------------------------------------------------

    def _join(self, other: Any, outer: bool, num_partitions: int | None,
              reload_every: int | None, how: str | None = None) -> Stream:
        op = {"right": "right_outer_join", "full": "full_outer_join"}.get(
            how or "", "left_outer_join" if outer else "join")
        num_partitions = check_num_partitions(num_partitions, f"{op}.num_partitions")
        if isinstance(other, Stream):
            key = self.ctx._graph.new_key(op)
            node = StreamJoinNode(self.node, other.node, key, outer, num_partitions, how)
            return Stream(self.ctx, self.ctx._graph.add(node))
        if how in ("right", "full"):
            raise ConfigError(f"{op}.other", "a Stream (a static table has no batch of its own "
                              "to keep; use left_outer_join from the table's side)", other)
        if reload_every is not None and (not isinstance(reload_every, int) or reload_every < 1):
            raise ConfigError(f"{op}.reload_every", "a positive number of batches", reload_every)
        return self._derive(StaticJoinNode, op, other, outer, reload_every)

    def join(self, other: Any, num_partitions: int | None = None,
             reload_every: int | None = None) -> Stream:
        """Inner join on key with another stream's batch, a mapping, pairs, or a loader callable."""
        return self._join(other, False, num_partitions, reload_every)

    def left_outer_join(self, other: Any, num_partitions: int | None = None,
                        reload_every: int | None = None) -> Stream:
        """Like :meth:`join`, keeping unmatched records as ``(k, (v, None))``."""
        return self._join(other, True, num_partitions, reload_every)

    def right_outer_join(self, other: Stream, num_partitions: int | None = None) -> Stream:
        """Join with another stream, keeping its unmatched pairs as ``(k, (None, w))``."""
        return self._join(other, False, num_partitions, None, "right")

    def full_outer_join(self, other: Stream, num_partitions: int | None = None) -> Stream:
        """Join with another stream, keeping unmatched pairs of both sides (None for the other)."""
        return self._join(other, True, num_partitions, None, "full")

    # -- keyed state and event time (etlcore/state.py, etlcore/eventtime/) ------------

    def update_state_by_key(self, fn: Callable[[list[Any], Any], Any], timeout: Any = None,
                            num_partitions: int | None = None,
                            initial_state: Any = None) -> Stream:
        """Per-key state ``fn(new_values, state) -> state`` (None removes the key).

        ``initial_state``: a mapping or ``(key, state)`` pairs, the state before
        the first batch (Spark's ``initialRDD``).
        """
        from etlcore.state import update_state_by_key

        return update_state_by_key(self, fn, timeout, num_partitions, initial_state)

    def map_with_state(self, fn: Callable[..., Any], timeout: Any = None,
                       num_partitions: int | None = None) -> Stream:
        """``fn(key, value, state) -> record`` per record, with per-key mutable state."""
        from etlcore.state import map_with_state

        return map_with_state(self, fn, timeout, num_partitions)

    def with_event_time(self, extract: Callable[[Any], float] | int | str | None = None,
                        max_delay: Any = None, *, time: Any = None) -> Any:
        """Event times from ``extract(record)`` (or a field: ``time=0``, ``time="ts"``),
        a watermark ``max_delay`` behind the latest."""
        from etlcore.eventtime import with_event_time

        return with_event_time(self, extract, max_delay, time=time)

    # -- SQL (etlcore/sql/, the etlcore[sql] extra) ------------------------------------

    def sql(self, query: str, schema: Any = None, *, mode: str = "auto") -> Stream:
        """DuckDB ``query`` over each batch (the table ``batch``); rows come out as dicts.

        ``schema`` (``{column: type}``) types the records; without it, it is inferred
        from the batch. Records that do not fit go to the dead letters. ``mode``:
        ``"auto"`` (row-wise SQL per partition, other SQL on the collected batch),
        ``"partition"`` or ``"batch"``; see :mod:`etlcore.sql.nodes`.
        """
        from etlcore.sql import sql

        return sql(self, query, schema, mode)

    # -- outputs --------------------------------------------------------------------

    def foreach_batch(self, fn: Callable[[int, list[Any]], Any]) -> Stream:
        """Call ``fn(batch_id, records)`` every batch (dedupe on batch_id for exactly-once).

        ``records`` is a list with ``to_arrow()`` and ``to_pandas()`` (:class:`Records`).
        """
        self.ctx._graph.add_foreach(self.node, _with_records(fn))
        return self

    def sink(self, plugin: str, /, **config: Any) -> Stream:
        """Write every batch to the sink ``plugin`` (config checked now, not at run time)."""
        self.ctx._graph.add_sink(self.node, plugin, config)
        return self

    def to(self, sink: Any, name: str | None = None) -> Stream:
        """Write every batch to a Sink instance."""
        self.ctx._graph.add_sink_instance(self.node, sink, name or type(sink).__name__.lower())
        return self

    def pprint(self, num: int = 10) -> Stream:
        """Print the first ``num`` records of every batch (Spark's pprint)."""
        return self.sink("console", limit=num)
