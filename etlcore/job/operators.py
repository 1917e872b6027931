"""Transform specs: ``{operator: settings}`` items, as YAML jobs write them.

Parsing checks every setting (and imports every function) when the job is
defined, naming the key path (``transform[2].count_by_value_and_window.length``);
applying the parsed operator to a stream happens at build time, when the batch
interval is known and window sizes can be checked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from etlcore.config import Duration, parse_config
from etlcore.errors import ConfigError
from etlcore.graph.windows import batches_in
from etlcore.job import builtins, sqlspec
from etlcore.job import stream_ops as ops
from etlcore.job.conditions import make_condition
from etlcore.job.guard import Kind, guarded
from etlcore.job.imports import resolve_callable
from etlcore.stream import _BUILTIN_REDUCERS, Stream

OnError = Literal["dead_letter", "raise"]


@dataclass
class Operator:
    """A parsed transform item: where it sits in the job and how to apply it.

    ``refs``: ``(key, name)`` of every other stream of the job it reads (a join's
    ``stream:``), checked by the job before it builds anything.
    """

    name: str
    key: str
    apply: Callable[[Stream], Stream]
    refs: tuple[tuple[str, str], ...] = ()


# -- settings schemas ---------------------------------------------------------------------

class _Positive:
    """Counts that must be positive when given: 0 would silently mean "the default"."""

    def validate(self, where: str) -> None:
        for name in ("num_partitions", "limit"):
            value = getattr(self, name, None)
            if value is not None and value < 1:
                raise ConfigError(f"{where}.{name}" if where else name,
                                  "a positive integer, or null for the default", value)


@dataclass
class _Function:
    function: Any
    on_error: OnError = "dead_letter"


@dataclass
class _Field:
    field: str


@dataclass
class _Fields:
    fields: list[str]


@dataclass
class _Hashtags:
    field: str | None = "text"
    lower: bool = True


@dataclass
class _Words:
    field: str | None = None
    lower: bool = True


@dataclass
class _Pair:
    key: str
    value: str | None = None
    constant: Any = 1


@dataclass
class _ToDict:
    fields: list[str]
    batch_time: str | None = None


@dataclass
class _Sort(_Positive):
    by: str | int | None = None
    descending: bool = False
    limit: int | None = None


@dataclass
class _Partitions(_Positive):
    num_partitions: int | None = None


@dataclass
class _Reduce(_Positive):
    func: Any = "sum"
    num_partitions: int | None = None


@dataclass
class _Window:
    length: Duration
    slide: Duration | None = None


@dataclass
class _CountWindow(_Positive):
    length: Duration
    slide: Duration | None = None
    num_partitions: int | None = None


@dataclass(kw_only=True)
class _ReduceWindow(_Positive):
    func: Any = "sum"
    inv_func: Any = None
    filter_func: Any = None  # "nonzero" or an import path: which (key, value) pairs stay
    length: Duration
    slide: Duration | None = None
    num_partitions: int | None = None


@dataclass
class _None:
    pass


# -- builders: (settings, key) -> stream -> stream --------------------------------------------

Builder = Callable[[Any, str], Callable[[Stream], Stream]]


def _record_op(kind: Kind, make: Callable[[Any], Callable[[Any], Any]]) -> Builder:
    def build(s: Any, key: str) -> Callable[[Stream], Stream]:
        fn = make(s)
        return lambda stream: guarded(stream, key, fn, kind)

    return build


def _function_op(kind: Kind) -> Builder:
    def build(s: _Function, key: str) -> Callable[[Stream], Stream]:
        fn = resolve_callable(s.function, f"{key}.function")
        if s.on_error == "raise":
            return lambda stream: getattr(stream, kind)(fn)
        return lambda stream: guarded(stream, key, fn, kind)

    return build


def _reducer(func: Any, key: str) -> Any:
    if isinstance(func, str) and func in _BUILTIN_REDUCERS:
        return func
    if isinstance(func, str) and ":" not in func:
        raise ConfigError(key, "one of " + ", ".join(_BUILTIN_REDUCERS)
                          + " or an import path 'package.module:function'", func)
    return resolve_callable(func, key)


def _sizes(stream: Stream, s: Any, key: str) -> None:
    """Check window length/slide against the batch interval, with the job's key path."""
    interval = stream.ctx.batch_interval
    batches_in(s.length, interval, f"{key}.length")
    if s.slide is not None:
        batches_in(s.slide, interval, f"{key}.slide")


def _window(s: _Window, key: str) -> Callable[[Stream], Stream]:
    def apply(stream: Stream) -> Stream:
        _sizes(stream, s, key)
        return stream.window(s.length, s.slide)

    return apply


def _count_by_window(s: _Window, key: str) -> Callable[[Stream], Stream]:
    def apply(stream: Stream) -> Stream:
        _sizes(stream, s, key)
        return stream.count_by_window(s.length, s.slide)

    return apply


def _count_by_value_and_window(s: _CountWindow, key: str) -> Callable[[Stream], Stream]:
    def apply(stream: Stream) -> Stream:
        _sizes(stream, s, key)
        return stream.count_by_value_and_window(s.length, s.slide, s.num_partitions)

    return apply


def _reduce_by_key_and_window(s: _ReduceWindow, key: str) -> Callable[[Stream], Stream]:
    func = _reducer(s.func, f"{key}.func")
    inverse = None if s.inv_func is None else resolve_callable(s.inv_func, f"{key}.inv_func")
    keep = (_nonzero if s.filter_func == "nonzero"
            else None if s.filter_func is None
            else resolve_callable(s.filter_func, f"{key}.filter_func"))

    def apply(stream: Stream) -> Stream:
        _sizes(stream, s, key)
        return stream.reduce_by_key_and_window(func, inverse, s.length, s.slide,
                                               s.num_partitions, keep)

    return apply


def _nonzero(pair: tuple[Any, Any]) -> bool:
    """filter_func "nonzero": drop keys whose windowed value fell to 0 (Spark's usual filter)."""
    return pair[1] != 0


def _reduce_by_key(s: _Reduce, key: str) -> Callable[[Stream], Stream]:
    func = _reducer(s.func, f"{key}.func")
    return lambda stream: stream.reduce_by_key(func, s.num_partitions)


def _filter(s: Any, key: str) -> Callable[[Stream], Stream]:
    if isinstance(s, _Function):
        return _function_op("filter")(s, key)
    test = make_condition(s, key)
    return lambda stream: guarded(stream, key, test, "filter")


@dataclass
class _Spec:
    """One step kind: its settings dataclass, its builder, and its shorthand setting."""

    schema: type
    build: Builder
    shorthand: str | None = None  # the setting a bare (non-mapping) value fills


OPERATORS: dict[str, _Spec] = {
    "map": _Spec(_Function, _function_op("map"), "function"),
    "flat_map": _Spec(_Function, _function_op("flat_map"), "function"),
    "filter": _Spec(_Function, _filter, "function"),
    "extract_hashtags": _Spec(
        _Hashtags, _record_op("flat_map", lambda s: builtins.extract_hashtags(s.field, s.lower)),
        "field"),
    "split_words": _Spec(
        _Words, _record_op("flat_map", lambda s: builtins.split_words(s.field, s.lower)), "field"),
    "select": _Spec(_Fields, _record_op("map", lambda s: builtins.select_fields(s.fields)),
                    "fields"),
    "pluck": _Spec(_Field, _record_op("map", lambda s: builtins.pluck(s.field)), "field"),
    "key_by": _Spec(_Field, _record_op("map", lambda s: builtins.key_by(s.field)), "field"),
    "pair": _Spec(_Pair, _record_op("map", lambda s: builtins.pair(s.key, s.value, s.constant)),
                  "key"),
    "to_dict": _Spec(_ToDict, lambda s, key: lambda st: st.transform(
        builtins.to_dict(s.fields, s.batch_time)), "fields"),
    "sort": _Spec(_Sort, lambda s, key: lambda st: st.transform(
        builtins.sort_records(s.by, s.descending, s.limit)), "by"),
    "reduce_by_key": _Spec(_Reduce, _reduce_by_key, "func"),
    "group_by_key": _Spec(_Partitions, lambda s, key: lambda st: st.group_by_key(s.num_partitions)),
    "count_by_value": _Spec(_Partitions,
                            lambda s, key: lambda st: st.count_by_value(s.num_partitions)),
    "count": _Spec(_None, lambda s, key: lambda st: st.count()),
    "window": _Spec(_Window, _window),
    "count_by_window": _Spec(_Window, _count_by_window),
    "reduce_by_key_and_window": _Spec(_ReduceWindow, _reduce_by_key_and_window),
    "count_by_value_and_window": _Spec(_CountWindow, _count_by_value_and_window),
    "sql": _Spec(sqlspec.SqlStep, sqlspec.sql_step, "query"),  # etlcore/job/sqlspec.py
    # the rest of the DStream API (etlcore/job/stream_ops.py)
    "map_values": _Spec(ops.Fn, ops.function_op("map_values"), "function"),
    "flat_map_values": _Spec(ops.Fn, ops.function_op("flat_map_values"), "function"),
    "map_partitions": _Spec(ops.Fn, ops.function_op("map_partitions"), "function"),
    "transform": _Spec(ops.Fn, ops.function_op("transform"), "function"),
    "reduce": _Spec(ops.Fold, ops.reduce_op, "func"),
    "repartition": _Spec(ops.Partitions, ops.repartition_op, "num_partitions"),
    "union": _Spec(ops.UnionOf, ops.union_op, "streams"),
    "cogroup": _Spec(ops.Other, ops.cogroup_op, "stream"),
    "transform_with": _Spec(ops.TransformWith, ops.transform_with_op),
    "join": _Spec(ops.Join, ops.join_op("join", static=True), "stream"),
    "left_outer_join": _Spec(ops.Join, ops.join_op("left_outer_join", static=True), "stream"),
    "right_outer_join": _Spec(ops.Join, ops.join_op("right_outer_join", static=False), "stream"),
    "full_outer_join": _Spec(ops.Join, ops.join_op("full_outer_join", static=False), "stream"),
    "group_by_key_and_window": _Spec(ops.WindowGroup, ops.group_by_key_and_window_op),
    "reduce_by_window": _Spec(ops.WindowFold, ops.reduce_by_window_op),
    "update_state_by_key": _Spec(ops.UpdateState, ops.update_state_op, "function"),
    "map_with_state": _Spec(ops.MapWithState, ops.map_with_state_op, "function"),
    "with_event_time": _Spec(ops.EventTime, ops.event_time_op),
    "tumbling_window": _Spec(ops.Tumbling, ops.tumbling_window_op),
    "sliding_window": _Spec(ops.Sliding, ops.sliding_window_op),
    "session_window": _Spec(ops.Session, ops.session_window_op),
}


def operator_from_spec(item: Any, key: str) -> Operator:
    """Parse one ``{operator: settings}`` item; a callable item is used as stream -> stream."""
    if callable(item):
        return Operator(getattr(item, "__name__", "callable"), key, item)
    if isinstance(item, str):
        item = {item: None}
    if not isinstance(item, Mapping) or len(item) != 1:
        raise ConfigError(key, "a mapping with one operator name, e.g. {count_by_value: {}}",
                          item)
    (name, settings), = item.items()
    spec = OPERATORS.get(name)
    if spec is None:
        raise ConfigError(f"{key}.{name}", "an operator, one of: " + ", ".join(OPERATORS),
                          has_value=False)
    where = f"{key}.{name}"
    if settings is not None and not isinstance(settings, Mapping):
        if spec.shorthand is None:
            raise ConfigError(where, f"a mapping of {name} settings", settings)
        settings = {spec.shorthand: settings}
    if name == "filter" and isinstance(settings, Mapping) and "function" not in settings:
        return Operator(name, where, _filter(dict(settings), where))
    parsed = parse_config(spec.schema, settings, where)
    refs = tuple((f"{where}.{setting}", n) for setting, n in ops.stream_refs(parsed))
    return Operator(name, where, spec.build(parsed, where), refs)
