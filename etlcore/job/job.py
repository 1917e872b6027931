"""A Job: one source, then the stages cleanse -> transform -> store.

Everything a job declares is checked when it is defined (cleanse steps,
transform specs) or built (plugin configs, window sizes), so a mistake is a
ConfigError naming its key path before any batch runs.

    job = Job("hashtags", source=("generator", {"kind": "tweets", "format": "json"}),
              cleanse=[parse_json(), require(["id", "text"])],
              transform=[{"extract_hashtags": {"field": "text"}}, {"count_by_value": {}}],
              store=[("console", {"limit": 5})])
    job.run(batches=10)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from etlcore.config import parse_duration
from etlcore.context import StreamingContext
from etlcore.errors import ConfigError, PluginNotFoundError
from etlcore.job.cleanse import Step, step_from_spec
from etlcore.job.guard import chain_steps
from etlcore.job.operators import Operator, operator_from_spec
from etlcore.job.sqlspec import parse_tables, register_tables
from etlcore.metrics import JobMetrics
from etlcore.plugin.registry import get_registry
from etlcore.sink import Sink
from etlcore.source import Source
from etlcore.stream import Stream

PluginSpec = tuple[str, Mapping[str, Any]]


def _plugin_spec(spec: Any, key: str, kind: str, instance: type) -> Any:
    """``(name, {config})``, a bare name, or an instance; anything else names ``key``."""
    if isinstance(spec, instance):
        return spec
    if isinstance(spec, str):
        return (spec, {})
    if (isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str)
            and isinstance(spec[1], Mapping)):
        return (spec[0], dict(spec[1]))
    raise ConfigError(key, f"a {kind} name, ({kind} name, {{config}}) or a "
                      f"{instance.__name__} instance", spec)


def _build_plugin(kind: str, spec: Any, key: str) -> Any:
    if not isinstance(spec, tuple):
        return spec
    name, config = spec
    try:
        entry = get_registry().get(kind, name)
    except PluginNotFoundError as err:
        raise ConfigError(f"{key}.{'type' if kind == 'source' else 'sink'}", str(err),
                          has_value=False) from None
    return entry.build(config, where=f"{key}.config")


def _compile_cleanse(cleanse: Any, where: str = "cleanse") -> list[tuple[str, Callable[[Any], Any]]]:
    if cleanse is None:
        return []
    if isinstance(cleanse, (str, Step, Mapping)) or not isinstance(cleanse, Sequence):
        raise ConfigError(where, "a list of cleanse steps", cleanse)
    compiled = []
    for i, item in enumerate(cleanse):
        step = step_from_spec(item, f"{where}[{i}]")
        stage = f"{where}[{i}].{step.name}"
        compiled.append((stage, step.compile(stage)))
    return compiled


def _parse_transform(transform: Any, where: str = "transform") -> list[Operator]:
    if transform is None:
        return []
    if callable(transform):
        return [Operator(getattr(transform, "__name__", "transform"), where, transform)]
    if isinstance(transform, (str, Mapping)) or not isinstance(transform, Sequence):
        raise ConfigError(where, "a function stream -> stream or a list of operators",
                          transform)
    return [operator_from_spec(item, f"{where}[{i}]") for i, item in enumerate(transform)]


def _parse_store(store: Any, where: str, required: bool) -> list[Any]:
    if store is None:
        store = []
    if isinstance(store, (str, tuple, Sink)):
        store = [store]
    if not isinstance(store, Sequence) or (required and not store):
        raise ConfigError(where, "a list of one or more sinks", store)
    return [_plugin_spec(s, f"{where}[{i}]", "sink", Sink) for i, s in enumerate(store)]


class Pipeline:
    """A named stream of the job: its input (``from``), cleanse, transform and store."""

    def __init__(self, name: str, where: str, input: str | None, cleanse: Any = (),  # noqa: A002
                 transform: Any = None, store: Any = None):
        self.name = name
        self.where = where
        self.input = input
        self.cleanse = _compile_cleanse(cleanse, f"{where}.cleanse")
        self.transform = _parse_transform(transform, f"{where}.transform")
        self.store = _parse_store(store, f"{where}.store", required=False)

    def refs(self) -> list[tuple[str, str]]:
        """``(key, name)`` of every stream this pipeline reads."""
        own = [(f"{self.where}.from", self.input)] if self.input is not None else []
        return own + [ref for op in self.transform for ref in op.refs]


class Job:
    """A named ETL job; see the module docstring.

    ``transform`` is a function ``stream -> stream`` or a list of operator specs
    (``{"count_by_value_and_window": {"length": "30s", "slide": "5s"}}``, see
    :mod:`etlcore.job.operators`). Other keyword arguments go to
    :class:`~etlcore.context.StreamingContext` (``parallelism``, ``clock``, ...).

    A job may read several sources (``sources={"clicks": ..., "users": ...}``
    instead of ``source``) and define named streams
    (``streams={"profiles": {"from": "users", "transform": [...], "store": [...]}}``);
    operators such as ``join`` name them with ``stream:``, and the main pipeline
    (cleanse, transform, store) reads ``input`` (the only source by default).
    """

    def __init__(
        self,
        name: str,
        source: Any = None,
        cleanse: Sequence[Step | Mapping[str, Any] | str] = (),
        transform: Callable[[Stream], Stream] | Sequence[Any] | None = None,
        store: Sequence[Any] = (),
        *,
        sources: Mapping[str, Any] | None = None,
        streams: Mapping[str, Any] | None = None,
        input: str | None = None,  # noqa: A002 - the YAML key is `from`
        batch_interval: Any = 1.0,
        checkpoint: str | os.PathLike[str] | None = None,
        dead_letter: Any = None,
        tables: Mapping[str, Any] | None = None,
        **context_options: Any,
    ):
        if not isinstance(name, str) or not name:
            raise ConfigError("name", "a non-empty job name", name)
        self.name = name
        self.batch_interval = parse_duration(batch_interval, "batch_interval")
        self.checkpoint = checkpoint
        self.context_options = context_options
        self.sources = self._parse_sources(source, sources)
        self.source = self.sources.get("source") if sources is None else None
        self.cleanse = _compile_cleanse(cleanse)
        self.transform = _parse_transform(transform)
        self.streams = self._parse_streams(streams)
        has_other_sinks = any(p.store for p in self.streams.values())
        self.store = _parse_store(store, "store", required=not has_other_sinks)
        self.input = self._main_input(input)
        self.dead_letter = (None if dead_letter is None
                            else _plugin_spec(dead_letter, "dead_letter", "sink", Sink))
        self.tables = parse_tables(tables)  # static tables for sql steps (etlcore/job/sqlspec.py)
        self._check_refs()

    @staticmethod
    def _parse_sources(source: Any, sources: Any) -> dict[str, Any]:
        if (source is None) == (sources is None):
            raise ConfigError("source", "either source (one source) or sources (a mapping "
                              "name -> source), not both" if source is not None else
                              "a source (or sources: a mapping name -> source)", has_value=False)
        if source is not None:
            return {"source": _plugin_spec(source, "source", "source", Source)}
        if not isinstance(sources, Mapping) or not sources:
            raise ConfigError("sources", "a mapping of one or more name -> source", sources)
        return {str(n): _plugin_spec(spec, f"sources.{n}", "source", Source)
                for n, spec in sources.items()}

    def _parse_streams(self, streams: Any) -> dict[str, Pipeline]:
        if streams is None:
            return {}
        if not isinstance(streams, Mapping):
            raise ConfigError("streams", "a mapping name -> {from, cleanse, transform, store}",
                              streams)
        out: dict[str, Pipeline] = {}
        for name, spec in streams.items():
            where = f"streams.{name}"
            if name in self.sources:
                raise ConfigError(where, "a name no source of this job uses", has_value=False)
            if isinstance(spec, Pipeline):
                out[name] = spec
                continue
            if not isinstance(spec, Mapping):
                raise ConfigError(where, "a mapping {from, cleanse, transform, store}", spec)
            unknown = [k for k in spec if k not in ("from", "cleanse", "transform", "store")]
            if unknown:
                raise ConfigError(f"{where}.{unknown[0]}", "one of the known keys: cleanse, "
                                  "from, store, transform", has_value=False)
            if not isinstance(spec.get("from"), str):
                raise ConfigError(f"{where}.from", "the name of a source or stream of this job",
                                  spec.get("from"))
            out[name] = Pipeline(name, where, spec["from"], spec.get("cleanse"),
                                 spec.get("transform"), spec.get("store"))
        return out

    def _main_input(self, input: str | None) -> str:  # noqa: A002
        if input is not None:
            return input
        if len(self.sources) == 1:
            return next(iter(self.sources))
        raise ConfigError("from", "the source or stream the main pipeline (cleanse, transform, "
                          "store) reads: one of " + ", ".join([*self.sources, *self.streams]),
                          has_value=False)

    def _names(self) -> list[str]:
        return [*self.sources, *self.streams]

    def _check_refs(self) -> None:
        """Every stream an operator or pipeline names exists (before anything is built)."""
        main = [("from", self.input)] + [ref for op in self.transform for ref in op.refs]
        refs = main + [ref for p in self.streams.values() for ref in p.refs()]
        for key, name in refs:
            if name not in self.sources and name not in self.streams:
                raise ConfigError(key, "the name of a source or stream of this job, one of: "
                                  + ", ".join(self._names()), name)

    def build(self, **overrides: Any) -> StreamingContext:
        """A new StreamingContext running this job; ``overrides`` replace context options."""
        options: dict[str, Any] = {
            "name": self.name, "batch_interval": self.batch_interval,
            "checkpoint": self.checkpoint, **self.context_options, **overrides,
        }
        if self.dead_letter is not None and "dead_letter" not in overrides:
            options["dead_letter"] = _build_plugin("sink", self.dead_letter, "dead_letter")
        ctx = StreamingContext(**options)
        register_tables(ctx, self.tables)
        built: dict[str, Stream] = {}
        for name, spec in self.sources.items():
            built[name] = self._source_stream(ctx, name, spec, single=self.source is not None)
        building: list[str] = []

        def resolve(name: str) -> Stream:
            if name in built:
                return built[name]
            if name in building:
                cycle = " -> ".join([*building[building.index(name):], name])
                raise ConfigError(f"streams.{name}", f"streams that do not read each other in "
                                  f"a cycle ({cycle})", has_value=False)
            building.append(name)
            pipe = self.streams[name]
            built[name] = self._pipeline(resolve(pipe.input or ""), pipe.cleanse,
                                         pipe.transform, pipe.store, pipe.where)
            building.pop()
            return built[name]

        ctx._job_streams = {n: (lambda n=n: resolve(n)) for n in self._names()}  # type: ignore[attr-defined]
        self._pipeline(resolve(self.input), self.cleanse, self.transform, self.store, "")
        for name in self.streams:
            resolve(name)
        return ctx

    @staticmethod
    def _pipeline(stream: Stream, cleanse: list[Any], transform: list[Operator],
                  store: list[Any], where: str) -> Stream:
        prefix = f"{where}." if where else ""
        if cleanse:
            stream = chain_steps(stream, "cleanse", cleanse)
        for op in transform:
            result = op.apply(stream)
            if not isinstance(result, Stream):
                raise ConfigError(op.key, "a function returning a Stream", result)
            stream = result
        for i, spec in enumerate(store):
            sink = _build_plugin("sink", spec, f"{prefix}store[{i}]")
            stream.to(sink, spec[0] if isinstance(spec, tuple) else None)
        return stream

    @staticmethod
    def _source_stream(ctx: StreamingContext, name: str, spec: Any, single: bool) -> Stream:
        key = None if single else name  # a one-source job keeps its plugin-named key
        if isinstance(spec, Source):
            return ctx.stream(spec, name=key)
        where = "source" if single else f"sources.{name}"
        source = _build_plugin("source", spec, where)
        return Stream(ctx, ctx._graph.add_source(source, spec[0], key=key))

    def run(self, batches: int | None = None, *, until_idle: bool = False,
            duration: Any = None, **overrides: Any) -> JobMetrics:
        """Build and run in this thread; see :meth:`StreamingContext.run`."""
        return self.build(**overrides).run(batches, until_idle=until_idle, duration=duration)

    def __repr__(self) -> str:
        names = [s[0] if isinstance(s, tuple) else type(s).__name__ for s in self.sources.values()]
        source = names[0] if len(names) == 1 else names
        return f"Job({self.name!r}, source={source!r}, stages={len(self.cleanse)}+{len(self.transform)})"
