"""A JSON Schema for job files, built from the same dataclasses the parser checks against.

``etlcore schema > etlcore-job.schema.json`` gives editors completion and
inline errors (VS Code's YAML extension: ``# yaml-language-server:
$schema=etlcore-job.schema.json``). Nothing is written twice: every top-level
key, cleanse step and transform operator comes from its settings dataclass
(:data:`etlcore.job.operators.OPERATORS`, :data:`etlcore.job.cleanse.STEPS`),
and every installed source and sink plugin adds its own ``config`` schema.
The parser stays the authority (``etlcore validate``): the schema cannot check
import paths, window sizes against the batch interval or stream names.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from etlcore.config import Duration

SCHEMA_ID = "https://etlcore.dev/schemas/job.json"

_DURATION = {"anyOf": [{"type": "number", "minimum": 0},
                       {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"}],
             "description": "a duration: seconds, or '500ms', '10s', '5m', '1h'"}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of one annotated type, as :func:`etlcore.config.parse_config` reads it."""
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return {}
    if tp is Duration:
        return dict(_DURATION)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]} if tp is not float else {"type": "number"}
    if tp is type(None):
        return {"type": "null"}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (Union, types.UnionType):
        options = [type_schema(a) for a in get_args(tp)]
        return {} if {} in options else {"anyOf": options}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        args = get_args(tp)
        return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if origin in (dict, Mapping) or tp is dict:
        args = get_args(tp)
        return {"type": "object", "additionalProperties": type_schema(args[1]) if args else {}}
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)
    return {}


def dataclass_schema(cls: type) -> dict[str, Any]:
    """An object schema: one property per init field, the required ones, nothing else."""
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        prop = type_schema(hints[f.name])
        if f.metadata.get("help"):
            prop = {**prop, "description": f.metadata["help"]}
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            required.append(f.name)
        elif f.default is not dataclasses.MISSING and _plain(f.default) and not f.metadata.get(
                "secret"):
            default = f.default
            if isinstance(default, float) and type(default) is not float:  # Duration(1.0)
                default = float(default)
            prop = {**prop, "default": default}
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    doc = inspect.getdoc(cls)
    if doc and not doc.startswith(cls.__name__ + "("):  # not the dataclass's generated one
        out["description"] = doc.split("\n\n")[0]
    return out


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _one_key(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {name: settings}, "required": [name],
            "additionalProperties": False}


def operator_schemas() -> list[dict[str, Any]]:
    """One ``{operator: settings}`` alternative per transform operator."""
    from etlcore.job.operators import OPERATORS

    out = []
    for name, spec in OPERATORS.items():
        settings = dataclass_schema(spec.schema)
        if name == "filter":  # a function, or a condition {field, op, value}
            settings = {"type": "object"}
        options: list[dict[str, Any]] = [settings, {"type": "null"}]
        if spec.shorthand is not None:
            hints = typing.get_type_hints(spec.schema)
            options.append(type_schema(hints[spec.shorthand]))
        out.append(_one_key(name, {"anyOf": options}))
    return out


def _steps() -> dict[str, Any]:
    from etlcore.job.cleanse import STEPS

    names = list(STEPS)
    return {"anyOf": [{"enum": names}] + [_one_key(n, {}) for n in names]}


def _transform() -> dict[str, Any]:
    from etlcore.job.operators import OPERATORS

    return {"type": "array",
            "items": {"anyOf": [{"enum": list(OPERATORS)}, *operator_schemas()]}}


def _plugins(kind: str) -> list[dict[str, Any]]:
    """``if {type|sink: name} then {config: <that plugin's settings>}`` per installed plugin."""
    from etlcore.plugin.registry import get_registry

    field = "type" if kind == "source" else "sink"
    registry = get_registry()
    out = []
    for name in registry.names(kind):
        try:
            config = registry.entries[(kind, name)].config_ref.get()
        except Exception:  # noqa: BLE001,S112 - a broken plugin: `etlcore plugins` says why
            continue
        out.append({"if": {"properties": {field: {"const": name}}, "required": [field]},
                    "then": {"properties": {"config": dataclass_schema(config)}}})
    return out


def _plugin_spec(kind: str) -> dict[str, Any]:
    from etlcore.plugin.registry import get_registry

    field = "type" if kind == "source" else "sink"
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {field: {"type": "string", "description": f"{kind} plugin name",
                               "examples": get_registry().names(kind)},
                       "config": {"type": "object"}},
        "required": [field], "additionalProperties": False}
    checks = _plugins(kind)
    if checks:
        schema["allOf"] = checks
    return schema


def job_schema() -> dict[str, Any]:
    """The whole job file: top-level keys from :class:`~etlcore.job.yamlspec.JobSpec`."""
    from etlcore.job.yamlspec import JobSpec

    top = dataclass_schema(JobSpec)
    props = top["properties"]
    source, sink = _plugin_spec("source"), _plugin_spec("sink")
    store = {"type": "array", "items": sink}
    pipeline = {"cleanse": {"type": "array", "items": _steps()}, "transform": _transform(),
                "store": store}
    props.update(pipeline)
    props["source"] = source
    props["sources"] = {"type": "object", "additionalProperties": source, "minProperties": 1}
    props["dead_letter"] = {"anyOf": [sink, {"type": "null"}]}
    props["from"] = {"type": "string", "description": "the source or stream the main "
                     "pipeline reads (default: the only source)"}
    props["streams"] = {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"from": {"type": "string"}, **pipeline},
        "required": ["from"], "additionalProperties": False}}
    top["oneOf"] = [{"required": ["source"]}, {"required": ["sources"]}]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "etlcore job", **top}
