"""Job-file operators for the rest of the DStream API: joins, state, event time, windows.

Each entry is one line in :data:`etlcore.job.operators.OPERATORS` (a settings
dataclass and a builder), so a new step kind is one registry entry. Operators
that read another stream of the job (joins, cogroup, union, transform_with)
name it with ``stream:``; the job checks such names before it builds anything
(:attr:`~etlcore.job.operators.Operator.refs`) and resolves them at build time
through :func:`named_stream`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from etlcore.config import Duration
from etlcore.errors import ConfigError
from etlcore.job import builtins
from etlcore.job.imports import resolve_callable
from etlcore.job.state_functions import STATE_FUNCTIONS
from etlcore.stream import Stream

Apply = Callable[[Stream], Stream]


def named_stream(stream: Stream, name: str, key: str) -> Stream:
    """The job's stream called ``name`` (a source, or an entry of ``streams:``)."""
    streams = getattr(stream.ctx, "_job_streams", None) or {}
    found = streams.get(name)
    if found is None:
        raise ConfigError(key, "the name of a source or stream of this job, one of: "
                          + (", ".join(streams) or "(none)"), name)
    return found() if callable(found) else found


def _fn(path: Any, key: str) -> Callable[..., Any]:
    return resolve_callable(path, key)


def _opt_fn(path: Any, key: str) -> Callable[..., Any] | None:
    return None if path is None else resolve_callable(path, key)


def _positive(value: int | None, key: str) -> None:
    if value is not None and value < 1:
        raise ConfigError(key, "a positive integer, or null for the default", value)


# -- settings ------------------------------------------------------------------------------

@dataclass
class Fn:
    function: str


@dataclass
class Partitions:
    num_partitions: int

    def validate(self, where: str) -> None:
        _positive(self.num_partitions, f"{where}.num_partitions")


@dataclass
class Fold:
    func: str = "sum"


@dataclass
class Other:
    stream: str
    num_partitions: int | None = None

    def validate(self, where: str) -> None:
        _positive(self.num_partitions, f"{where}.num_partitions")


@dataclass
class Join:
    """``stream``: another stream of the job; or a static table: ``data`` inline or a
    ``loader`` function reloaded every ``reload_every`` batches."""

    stream: str | None = None
    data: dict[str, Any] | list[Any] | None = None
    loader: str | None = None
    reload_every: int | None = None
    num_partitions: int | None = None

    def validate(self, where: str) -> None:
        given = [k for k in ("stream", "data", "loader") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError(where, "exactly one of stream (another stream of the job), data "
                              "(an inline table) or loader (a function returning the table)",
                              has_value=False)
        _positive(self.num_partitions, f"{where}.num_partitions")
        _positive(self.reload_every, f"{where}.reload_every")


@dataclass
class UnionOf:
    streams: list[str]


@dataclass
class TransformWith:
    stream: str
    function: str


@dataclass
class WindowGroup:
    length: Duration
    slide: Duration | None = None
    num_partitions: int | None = None

    def validate(self, where: str) -> None:
        _positive(self.num_partitions, f"{where}.num_partitions")


@dataclass(kw_only=True)
class WindowFold:
    func: str = "sum"
    inv_func: str | None = None
    length: Duration
    slide: Duration | None = None


@dataclass
class UpdateState:
    """``function``: sum, count, latest, set, top_n (with ``n`` and ``by``) or an import path."""

    function: str
    n: int | None = None
    by: str | None = None
    initial: dict[str, Any] | None = None
    initial_loader: str | None = None
    timeout: Duration | None = None
    num_partitions: int | None = None

    def validate(self, where: str) -> None:
        if self.function == "top_n" and (self.n is None or self.n < 1):
            raise ConfigError(f"{where}.n", "a positive integer (top_n keeps the n largest)",
                              self.n)
        if self.function != "top_n" and (self.n is not None or self.by is not None):
            raise ConfigError(f"{where}.n" if self.n is not None else f"{where}.by",
                              "nothing: n and by only apply to function top_n", self.n or self.by)
        if self.initial is not None and self.initial_loader is not None:
            raise ConfigError(f"{where}.initial_loader", "not both initial and initial_loader",
                              self.initial_loader)
        _positive(self.num_partitions, f"{where}.num_partitions")


@dataclass
class MapWithState:
    function: str
    timeout: Duration | None = None
    num_partitions: int | None = None

    def validate(self, where: str) -> None:
        _positive(self.num_partitions, f"{where}.num_partitions")


@dataclass
class EventTime:
    """Event time from a record ``field`` (seconds since the epoch) or a ``function``."""

    max_delay: Duration
    field: str | None = None
    function: str | None = None

    def validate(self, where: str) -> None:
        if (self.field is None) == (self.function is None):
            raise ConfigError(where, "exactly one of field or function (the event time)",
                              has_value=False)


Emit = Literal["final", "update"]
Late = Literal["dead_letter", "drop"]
Rows = Literal["tuple", "compact"]  # see EventTimeStream.sliding_window


@dataclass(kw_only=True)
class _EventWindow:
    key: str | None = None
    value: str | None = None
    agg: str = "sum"
    emit: Emit = "final"
    late: Late = "dead_letter"
    num_partitions: int | None = None

    def validate(self, where: str) -> None:
        _positive(self.num_partitions, f"{where}.num_partitions")


@dataclass(kw_only=True)
class Tumbling(_EventWindow):
    size: Duration
    rows: Rows = "tuple"


@dataclass(kw_only=True)
class Sliding(_EventWindow):
    size: Duration
    slide: Duration
    rows: Rows = "tuple"


@dataclass(kw_only=True)
class Session(_EventWindow):
    gap: Duration


# -- builders -------------------------------------------------------------------------------

def function_op(method: str) -> Callable[[Fn, str], Apply]:
    """``{method: {function: path}}`` -> ``stream.method(fn)``."""

    def build(s: Fn, key: str) -> Apply:
        fn = _fn(s.function, f"{key}.function")
        return lambda stream: getattr(stream, method)(fn)

    return build


def fold_function(func: str, key: str) -> Any:
    """"sum"/"min"/"max" as the stream API takes them, or an imported ``f(a, b)``."""
    if func in ("sum", "min", "max"):
        return func
    if ":" not in func:
        raise ConfigError(key, "sum, min, max or an import path 'package.module:function'", func)
    return _fn(func, key)


def reduce_op(s: Fold, key: str) -> Apply:
    func = fold_function(s.func, f"{key}.func")
    return lambda stream: stream.reduce(func)


def repartition_op(s: Partitions, key: str) -> Apply:
    return lambda stream: stream.repartition(s.num_partitions)


def union_op(s: UnionOf, key: str) -> Apply:
    return lambda stream: stream.union(
        *[named_stream(stream, n, f"{key}.streams[{i}]") for i, n in enumerate(s.streams)])


def cogroup_op(s: Other, key: str) -> Apply:
    return lambda stream: stream.cogroup(named_stream(stream, s.stream, f"{key}.stream"),
                                         s.num_partitions)


def transform_with_op(s: TransformWith, key: str) -> Apply:
    fn = _fn(s.function, f"{key}.function")
    return lambda stream: stream.transform_with(
        named_stream(stream, s.stream, f"{key}.stream"), fn)


def join_op(method: str, static: bool) -> Callable[[Join, str], Apply]:
    """A join with another stream or (left and inner joins) a static table."""

    def build(s: Join, key: str) -> Apply:
        if s.stream is None and not static:
            raise ConfigError(f"{key}.stream", f"another stream of the job ({method} keeps the "
                              "other side's unmatched records, so it needs a stream)",
                              has_value=False)
        if s.stream is not None and s.reload_every is not None:
            raise ConfigError(f"{key}.reload_every", "nothing: only a static table's loader "
                              "is reloaded", s.reload_every)
        loader = _opt_fn(s.loader, f"{key}.loader")

        def apply(stream: Stream) -> Stream:
            join = getattr(stream, method)
            if s.stream is not None:
                return join(named_stream(stream, s.stream, f"{key}.stream"), s.num_partitions)
            return join(loader if loader is not None else s.data, s.num_partitions,
                        s.reload_every)

        return apply

    return build


def group_by_key_and_window_op(s: WindowGroup, key: str) -> Apply:
    return lambda stream: stream.group_by_key_and_window(s.length, s.slide, s.num_partitions)


def reduce_by_window_op(s: WindowFold, key: str) -> Apply:
    func = fold_function(s.func, f"{key}.func")
    inverse = _opt_fn(s.inv_func, f"{key}.inv_func")
    if inverse is not None and not callable(func):
        raise ConfigError(f"{key}.func", "an import path 'package.module:function' (inv_func "
                          "undoes it)", s.func)
    return lambda stream: stream.reduce_by_window(func, inverse, s.length, s.slide)


def update_state_op(s: UpdateState, key: str) -> Apply:
    named = STATE_FUNCTIONS.get(s.function)
    if named is not None:
        fn = named(s.n, s.by) if s.function == "top_n" else named()
    elif ":" in s.function:
        fn = _fn(s.function, f"{key}.function")
    else:
        raise ConfigError(f"{key}.function", "one of " + ", ".join(STATE_FUNCTIONS)
                          + " or an import path 'package.module:function'", s.function)
    loader = _opt_fn(s.initial_loader, f"{key}.initial_loader")

    def apply(stream: Stream) -> Stream:
        initial = loader() if loader is not None else s.initial
        return stream.update_state_by_key(fn, s.timeout, s.num_partitions, initial)

    return apply


def map_with_state_op(s: MapWithState, key: str) -> Apply:
    fn = _fn(s.function, f"{key}.function")
    return lambda stream: stream.map_with_state(fn, s.timeout, s.num_partitions)


def event_time_op(s: EventTime, key: str) -> Apply:
    extract = (builtins.pluck(s.field) if s.field is not None
               else _fn(s.function, f"{key}.function"))
    return lambda stream: stream.with_event_time(extract, s.max_delay)


def _event_window(method: str, sizes: Callable[[Any], tuple[Any, ...]]
                  ) -> Callable[[Any, str], Apply]:
    def build(s: Any, key: str) -> Apply:
        agg = s.agg if s.agg in ("sum", "count", "min", "max", "mean") else _fn(s.agg, f"{key}.agg")
        keyf = None if s.key is None else builtins.pluck(s.key)
        valuef = None if s.value is None else builtins.pluck(s.value)

        def apply(stream: Stream) -> Stream:
            if not hasattr(stream, "session_window"):
                raise ConfigError(key, "a stream with event times: put with_event_time "
                                  "before it", has_value=False)
            rows = {"rows": s.rows} if hasattr(s, "rows") else {}  # not session_window
            return getattr(stream, method)(*sizes(s), key=keyf, value=valuef, agg=agg,
                                           emit=s.emit, late=s.late,
                                           num_partitions=s.num_partitions, **rows)

        return apply

    return build


tumbling_window_op = _event_window("tumbling_window", lambda s: (s.size,))
sliding_window_op = _event_window("sliding_window", lambda s: (s.size, s.slide))
session_window_op = _event_window("session_window", lambda s: (s.gap,))


def stream_refs(s: Any) -> list[tuple[str, str]]:
    """``(setting, name)`` of the job's other streams an operator's settings use."""
    if isinstance(s, UnionOf):
        return [(f"streams[{i}]", n) for i, n in enumerate(s.streams)]
    name = getattr(s, "stream", None)
    return [("stream", name)] if isinstance(name, str) else []
