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


class Job:
    """A named ETL job; see the module docstring.

    ``transform`` is a function ``stream -> stream`` or a list of operator specs
    (``{"count_by_value_and_window": {"length": "30s", "slide": "5s"}}``, see
    :mod:`etlcore.job.operators`). Other keyword arguments go to
    :class:`~etlcore.context.StreamingContext` (``parallelism``, ``clock``, ...).
    """

    def __init__(
        self,
        name: str,
        source: Any,
        cleanse: Sequence[Step | Mapping[str, Any] | str] = (),
        transform: Callable[[Stream], Stream] | Sequence[Any] | None = None,
        store: Sequence[Any] = (),
        *,
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
        self.source = _plugin_spec(source, "source", "source", Source)
        self.cleanse = self._compile_cleanse(cleanse)
        self.transform = self._parse_transform(transform)
        if isinstance(store, (str, tuple, Sink)):
            store = [store]
        if not isinstance(store, Sequence) or not store:
            raise ConfigError("store", "a list of one or more sinks", store)
        self.store = [_plugin_spec(s, f"store[{i}]", "sink", Sink) for i, s in enumerate(store)]
        self.dead_letter = (None if dead_letter is None
                            else _plugin_spec(dead_letter, "dead_letter", "sink", Sink))
        self.tables = parse_tables(tables)  # static tables for sql steps (etlcore/job/sqlspec.py)

    @staticmethod
    def _compile_cleanse(cleanse: Any) -> list[tuple[str, Callable[[Any], Any]]]:
        if cleanse is None:
            return []
        if isinstance(cleanse, (str, Step, Mapping)) or not isinstance(cleanse, Sequence):
            raise ConfigError("cleanse", "a list of cleanse steps", cleanse)
        compiled = []
        for i, item in enumerate(cleanse):
            step = step_from_spec(item, f"cleanse[{i}]")
            stage = f"cleanse[{i}].{step.name}"
            compiled.append((stage, step.compile(stage)))
        return compiled

    @staticmethod
    def _parse_transform(transform: Any) -> list[Operator]:
        if transform is None:
            return []
        if callable(transform):
            return [Operator(getattr(transform, "__name__", "transform"), "transform", transform)]
        if isinstance(transform, (str, Mapping)) or not isinstance(transform, Sequence):
            raise ConfigError("transform", "a function stream -> stream or a list of operators",
                              transform)
        return [operator_from_spec(item, f"transform[{i}]") for i, item in enumerate(transform)]

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
        stream = self._source_stream(ctx)
        if self.cleanse:
            stream = chain_steps(stream, "cleanse", self.cleanse)
        for op in self.transform:
            result = op.apply(stream)
            if not isinstance(result, Stream):
                raise ConfigError(op.key, "a function returning a Stream", result)
            stream = result
        for i, spec in enumerate(self.store):
            sink = _build_plugin("sink", spec, f"store[{i}]")
            stream.to(sink, spec[0] if isinstance(spec, tuple) else None)
        return ctx

    def _source_stream(self, ctx: StreamingContext) -> Stream:
        if isinstance(self.source, Source):
            return ctx.stream(self.source)
        source = _build_plugin("source", self.source, "source")
        return Stream(ctx, ctx._graph.add_source(source, self.source[0]))

    def run(self, batches: int | None = None, *, until_idle: bool = False,
            duration: Any = None, **overrides: Any) -> JobMetrics:
        """Build and run in this thread; see :meth:`StreamingContext.run`."""
        return self.build(**overrides).run(batches, until_idle=until_idle, duration=duration)

    def __repr__(self) -> str:
        source = self.source[0] if isinstance(self.source, tuple) else type(self.source).__name__
        return f"Job({self.name!r}, source={source!r}, stages={len(self.cleanse)}+{len(self.transform)})"
