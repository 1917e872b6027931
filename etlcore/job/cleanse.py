"""Cleanse steps: validate and repair records before they are transformed.

A step turns a record into its repaired form or raises :class:`Reject`; the
job sends a rejected record to the dead letters with the reason and the
step's stage name (``cleanse[2].cast``) and goes on with the next record.
Steps are built lazily (``compile``) so that Python and YAML jobs share one
validation path and every config error names its key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from etlcore.errors import ConfigError
from etlcore.job.conditions import describe_condition, make_condition
from etlcore.job.imports import resolve_callable
from etlcore.jsondecode import JsonDecoder

RecordFn = Callable[[Any], Any]


class Reject(Exception):  # noqa: N818 - reads as what happens to the record
    """Raise from a cleanse step: the record goes to the dead letters with ``reason``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class Step:
    """One cleanse step: a name, its arguments, and how to build its record function."""

    name: str
    args: Any
    make: Callable[[Any, str], RecordFn]

    def compile(self, key: str) -> RecordFn:
        """The record function, or a ConfigError naming ``key`` (e.g. ``cleanse[1].cast``)."""
        return self.make(self.args, key)


def _as_dict(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise Reject(f"expected a mapping, got {type(record).__name__}")
    return record


def _field_list(fields: Any, key: str) -> list[str]:
    if isinstance(fields, str):
        return [fields]
    if (not isinstance(fields, (list, tuple)) or not fields
            or not all(isinstance(f, str) for f in fields)):
        raise ConfigError(key, "a field name or a non-empty list of field names", fields)
    return list(fields)


def _mapping(args: Any, key: str, what: str) -> Mapping[str, Any]:
    if not isinstance(args, Mapping) or not args:
        raise ConfigError(key, f"a non-empty mapping of {what}", args)
    return args


# -- parse_json -----------------------------------------------------------------------

_PARSE_JSON_KEYS = ("schema", "required", "output")


def _make_parse_json(args: Any, key: str) -> RecordFn:
    if args is None:
        args = {}
    if not isinstance(args, Mapping) or set(args) - set(_PARSE_JSON_KEYS):
        raise ConfigError(key, "nothing, or a mapping of " + ", ".join(_PARSE_JSON_KEYS), args)
    required = args.get("required")
    if isinstance(required, str):
        required = [required]
    return JsonDecoder(args.get("schema"), required, args.get("output"), objects_only=True,
                       key=key)


def parse_json(schema: Mapping[str, Any] | type | None = None, required: list[str] | None = None,
               output: str | None = None) -> Step:
    """Parse JSON text into a dict; text that is not a JSON object is rejected.

    With ``schema`` (field -> type, or a msgspec.Struct) the decoder validates
    and projects in the same C pass; see :class:`etlcore.jsondecode.JsonDecoder`.
    """
    args = {k: v for k, v in (("schema", schema), ("required", required), ("output", output))
            if v is not None}
    return Step("parse_json", args or None, _make_parse_json)


# -- require ----------------------------------------------------------------------------

def _make_require(args: Any, key: str) -> RecordFn:
    fields = _field_list(args, key)

    def check(record: Any) -> Any:
        rec = _as_dict(record)
        for f in fields:
            if rec.get(f) is None:
                raise Reject(f"missing required field '{f}'")
        return rec

    return check


def require(fields: str | list[str]) -> Step:
    """Reject records where any of ``fields`` is missing or null."""
    return Step("require", fields, _make_require)


# -- cast --------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError("has a fractional part")
        return int(v)
    return int(v.strip() if isinstance(v, str) else v)


def _finite(x: float) -> float:
    """NaN and infinity are no measurement: JSON cannot hold them and they poison sums."""
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    return x


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("a boolean is not a number")
    return _finite(float(v))


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise ValueError("not a boolean")


def _to_timestamp(v: Any) -> float:
    """Seconds since the epoch (UTC) from a number or an ISO-8601 string."""
    if isinstance(v, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(v, (int, float)):
        return _finite(float(v))
    if isinstance(v, str):
        text = v.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return _finite(number)
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    raise ValueError("not a number or an ISO-8601 string")


CASTS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int, "float": _to_float, "str": str, "bool": _to_bool, "timestamp": _to_timestamp,
}
_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool"}


def _make_cast(args: Any, key: str) -> RecordFn:
    plan: list[tuple[str, str, Callable[[Any], Any]]] = []
    for field, kind in _mapping(args, key, "field: type").items():
        name = _TYPE_NAMES.get(kind, kind) if isinstance(kind, (type, str)) else kind
        if name not in CASTS:
            raise ConfigError(f"{key}.{field}", "one of " + ", ".join(CASTS), kind)
        plan.append((field, name, CASTS[name]))

    def cast_record(record: Any) -> Any:
        rec = dict(_as_dict(record))
        for field, name, fn in plan:
            value = rec.get(field)
            if value is None:
                continue  # absence is require's business
            try:
                rec[field] = fn(value)
            except (ValueError, TypeError, OverflowError):
                raise Reject(f"field '{field}': cannot cast {value!r} to {name}") from None
        return rec

    return cast_record


def cast(types: Mapping[str, Any]) -> Step:
    """Convert fields: ``{"retweets": int}``; int, float, str, bool or "timestamp"."""
    return Step("cast", types, _make_cast)


# -- drop_if / default / rename / select ------------------------------------------------------

def _make_drop_if(args: Any, key: str) -> RecordFn:
    condition, reason = args
    test = condition if callable(condition) else make_condition(condition, key)
    why = reason or f"dropped: {describe_condition(condition)}"

    def drop(record: Any) -> Any:
        if test(record):
            raise Reject(why)
        return record

    return drop


def drop_if(condition: Callable[[Any], bool] | Mapping[str, Any] | None = None, *,
            reason: str | None = None, **spec: Any) -> Step:
    """Reject records matching ``condition``: a predicate or ``field=, op=, value=``."""
    return Step("drop_if", (condition if condition is not None else spec, reason), _make_drop_if)


def _make_default(args: Any, key: str) -> RecordFn:
    defaults = dict(_mapping(args, key, "field: default value"))

    def fill(record: Any) -> Any:
        rec = dict(_as_dict(record))
        for field, value in defaults.items():
            if rec.get(field) is None:
                rec[field] = value
        return rec

    return fill


def default(values: Mapping[str, Any]) -> Step:
    """Fill missing or null fields with a value (repair instead of reject)."""
    return Step("default", values, _make_default)


def _make_rename(args: Any, key: str) -> RecordFn:
    names = _mapping(args, key, "old name: new name")
    for old, new in names.items():
        if not isinstance(new, str):
            raise ConfigError(f"{key}.{old}", "a new field name", new)

    def rename_fields(record: Any) -> Any:
        rec = _as_dict(record)
        return {names.get(k, k): v for k, v in rec.items()}

    return rename_fields


def rename(names: Mapping[str, str]) -> Step:
    """Rename fields: ``{"screen_name": "user"}``; absent fields are ignored."""
    return Step("rename", names, _make_rename)


def _make_select(args: Any, key: str) -> RecordFn:
    fields = _field_list(args, key)

    def keep(record: Any) -> Any:
        rec = _as_dict(record)
        return {f: rec[f] for f in fields if f in rec}

    return keep


def select(fields: str | list[str]) -> Step:
    """Keep only ``fields`` (in that order); others are dropped."""
    return Step("select", fields, _make_select)


# -- custom --------------------------------------------------------------------------------

def _make_custom(args: Any, key: str) -> RecordFn:
    fn = _custom_function(args, key)
    label = getattr(fn, "__name__", "custom")

    def run_custom(record: Any) -> Any:
        result = fn(record)
        if result is None:
            raise Reject(f"{label} returned no record")
        return result

    return run_custom


def _custom_function(args: Any, key: str) -> RecordFn:
    if isinstance(args, Mapping):
        unknown = [k for k in args if k != "function"]
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "one of the known keys: function",
                              has_value=False)
        if "function" not in args:
            raise ConfigError(f"{key}.function", "an import path; it is required",
                              has_value=False)
        return resolve_callable(args["function"], f"{key}.function")
    return resolve_callable(args, key)


def custom(fn: Callable[[Any], Any] | str) -> Step:
    """``fn(record)`` returns the repaired record or raises :class:`Reject`."""
    return Step("custom", fn, _make_custom)


# -- specs (YAML) ------------------------------------------------------------------------

STEPS: dict[str, Callable[[Any, str], RecordFn]] = {
    "parse_json": _make_parse_json,
    "require": _make_require,
    "cast": _make_cast,
    "drop_if": _make_drop_if,
    "default": _make_default,
    "rename": _make_rename,
    "select": _make_select,
    "custom": _make_custom,
}


def step_from_spec(item: Any, key: str) -> Step:
    """A Step from ``{name: args}`` (or a bare step name), as YAML jobs write it."""
    if isinstance(item, Step):
        return item
    if isinstance(item, str):
        item = {item: None}
    if not isinstance(item, Mapping) or len(item) != 1:
        raise ConfigError(key, "a mapping with one step name, e.g. {require: [id]}", item)
    (name, args), = item.items()
    if name not in STEPS:
        raise ConfigError(f"{key}.{name}", "a cleanse step, one of: " + ", ".join(STEPS),
                          has_value=False)
    if name == "drop_if":
        if not isinstance(args, Mapping):
            raise ConfigError(f"{key}.drop_if", "a mapping {field, op, value[, reason]}", args)
        cond = {k: v for k, v in args.items() if k != "reason"}
        args = (cond, args.get("reason"))
    return Step(name, args, STEPS[name])
