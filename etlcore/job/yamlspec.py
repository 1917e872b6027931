"""Jobs written as YAML files (or any mapping of the same shape).

    name: hashtags
    batch_interval: 1s
    checkpoint: out/ckpt
    source: {type: generator, config: {kind: tweets, format: json}}
    cleanse:
      - parse_json: {}
      - require: [id, text]
    transform:
      - extract_hashtags: {field: text}
      - count_by_value_and_window: {length: 10s, slide: 2s}
    store:
      - sink: console
        config: {limit: 10}
    dead_letter: {sink: files, config: {path: out/dead}}

The top level is checked like a plugin config: unknown keys are errors that
list the known ones, and every error names its key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from etlcore.config import Duration, option, parse_config
from etlcore.errors import ConfigError, EtlcoreError
from etlcore.job.job import Job


class JobFileError(EtlcoreError):
    """A job file that cannot be read or parsed (missing, YAML syntax, wrong shape)."""


@dataclass
class SourceSpec:
    type: str = option(help="source plugin name (see `etlcore plugins`)")
    config: dict[str, Any] = option({}, help="the plugin's settings")


@dataclass
class SinkSpec:
    sink: str = option(help="sink plugin name (see `etlcore plugins`)")
    config: dict[str, Any] = option({}, help="the plugin's settings")


@dataclass(kw_only=True)
class JobSpec:
    """The top level of a YAML job.

    One ``source``, or several named ``sources``; named ``streams`` (each
    ``{from, cleanse, transform, store}``, checked by :class:`~etlcore.job.job.Job`);
    the main pipeline reads ``from`` (a YAML key the parser takes out first:
    ``from`` is a Python keyword).
    """

    name: str
    source: SourceSpec | None = None
    sources: dict[str, SourceSpec] | None = None
    streams: dict[str, Any] | None = None
    store: list[SinkSpec] = field(default_factory=list)
    description: str = ""
    cleanse: list[Any] = field(default_factory=list)
    transform: list[Any] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)  # static tables for sql steps
    dead_letter: SinkSpec | None = None
    batch_interval: Duration = Duration(1.0)
    checkpoint: str | None = None
    parallelism: int = 2
    checkpoint_interval: int = 10
    max_rate_per_partition: float | None = None
    backpressure: bool = False
    runner: Literal["local", "processes", "spark"] = "local"
    workers: int | None = None
    master: str | None = None
    catch_up: Any = None  # on/off or records: etlcore.catchup (default: the runner's)
    ui: Any = None  # true, or {host, port, token, metrics_port}: etlcore.ui.options
    keep_memory: Any = False  # true or MiB: StreamingContext(keep_memory=...), checked there


def job_from_mapping(data: Any) -> Job:
    """A Job from a parsed YAML document; ConfigError names any key at fault."""
    main_input = None
    if isinstance(data, Mapping) and "from" in data:
        data = dict(data)
        main_input = data.pop("from")
        if not isinstance(main_input, str):
            raise ConfigError("from", "the name of a source or stream of this job", main_input)
    spec = parse_config(JobSpec, data)
    options: dict[str, Any] = {
        "parallelism": spec.parallelism,
        "checkpoint_interval": spec.checkpoint_interval,
        "backpressure": spec.backpressure,
        "runner": spec.runner,
        "workers": spec.workers,
        "master": spec.master,
    }
    if spec.keep_memory is not False:
        from etlcore.runners.workermem import check_keep_memory

        check_keep_memory(spec.keep_memory)  # named now, before the job is built
        options["keep_memory"] = spec.keep_memory
    if spec.max_rate_per_partition is not None:
        options["max_rate_per_partition"] = spec.max_rate_per_partition
    if spec.catch_up is not None:
        from etlcore.catchup import catch_up_setting

        options["catch_up"] = catch_up_setting(spec.catch_up)  # named now, as catch_up
    if spec.ui is not None:
        from etlcore.ui.options import ui_options

        ui_options(spec.ui)  # a bad setting is named now, as ui.<key>
        options["ui"] = spec.ui
    dead_letter = spec.dead_letter
    streams = None if spec.streams is None else {
        name: _stream_spec(name, stream) for name, stream in spec.streams.items()}
    return Job(
        spec.name,
        source=None if spec.source is None else (spec.source.type, spec.source.config),
        sources=None if spec.sources is None else {
            name: (s.type, s.config) for name, s in spec.sources.items()},
        streams=streams,
        input=main_input,
        cleanse=spec.cleanse,
        transform=spec.transform,
        tables=spec.tables,
        store=[(s.sink, s.config) for s in spec.store],
        batch_interval=spec.batch_interval,
        checkpoint=spec.checkpoint,
        dead_letter=None if dead_letter is None else (dead_letter.sink, dead_letter.config),
        **options,
    )


def _stream_spec(name: str, spec: Any) -> Any:
    """A ``streams:`` entry with its sinks parsed like the top-level ``store``."""
    if not isinstance(spec, Mapping) or "store" not in spec:
        return spec
    store = parse_config(_StoreSpec, {"store": spec["store"]}, f"streams.{name}").store
    return {**spec, "store": [(s.sink, s.config) for s in store]}


@dataclass
class _StoreSpec:
    store: list[SinkSpec]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping.

    Plain YAML keeps the last value silently, so a job with two ``source:``
    keys (an edit that forgot to remove the old one) would run the wrong thing.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line "
                    f"{first.start_mark.line + 1})", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep)


def read_yaml(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The YAML document at ``path``; a JobFileError (one line) if missing or malformed."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise JobFileError(f"{p}: no such job file") from None
    except OSError as err:
        raise JobFileError(f"{p}: cannot read: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise JobFileError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at "
                           f"offset {err.start}); save the job file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise JobFileError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, Mapping):
        raise JobFileError(f"{p}: expected a mapping of job settings (name, source, ...), "
                           f"got {type(data).__name__}")
    return data


def load_yaml_job(path: str | os.PathLike[str]) -> Job:
    """Read and check a YAML job file."""
    return job_from_mapping(read_yaml(path))
