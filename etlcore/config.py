"""Typed plugin and job configuration.

A config schema is a dataclass. :func:`parse_config` checks a plain mapping
(from Python or YAML) against it before anything runs and names the offending
key and what it expected. Fields marked with :func:`secret` are never shown in
reprs, logs, errors or ``etlcore plugins`` output.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from etlcore.errors import ConfigError

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_DURATION = 1e9  # seconds; longer ones overflow sleeps and timestamps at run time


def secret(default: Any = None, *, help: str = "") -> Any:  # noqa: A002 - mirrors argparse
    """A config field whose value must never be printed (a dict of client settings, a password)."""
    metadata = {"secret": True, "help": help}
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), repr=False,
                                 metadata=metadata)
    return dataclasses.field(default=default, repr=False, metadata=metadata)


def option(default: Any = dataclasses.MISSING, *, help: str = "",  # noqa: A002
           identity: bool = True, **kwargs: Any) -> Any:
    """A config field with a help text (shown by ``etlcore plugins``).

    ``identity=False`` marks a setting that only tunes delivery (a timeout, a
    batch bound, acks): changing it does not change what a source reads, so the
    checkpoint fingerprint (``Source.identity()``) leaves it out.
    """
    if isinstance(default, (list, dict, set)):
        value = default
        kwargs["default_factory"] = lambda: type(value)(value)
    elif default is not dataclasses.MISSING:
        kwargs["default"] = default
    return dataclasses.field(metadata={"help": help, "identity": identity}, **kwargs)


def parse_duration(value: Any, key: str = "") -> float:
    """Seconds from ``2``, ``2.5``, ``"500ms"``, ``"10s"``, ``"5m"`` or ``"1h"``.

    NaN and infinity are refused here, with the key: a NaN interval compares
    false with everything (a loop that never waits), an infinite one fails
    deep inside the run, after the checkpoint was written.
    """
    if isinstance(value, bool):
        raise ConfigError(key, "a duration such as 2, '500ms', '10s' or '5m'", value)
    seconds: float | None = None
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int wider than any float
            seconds = math.inf
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds is None:
        raise ConfigError(key, "a duration such as 2, '500ms', '10s' or '5m'", value)
    if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION:
        raise ConfigError(key, f"a finite duration of at most {MAX_DURATION:g} s (~31 years)",
                          value)
    if seconds < 0:
        raise ConfigError(key, "a non-negative duration", value)
    return seconds


def check_encoding(key: str, value: str) -> None:
    """A ConfigError naming ``key`` unless ``value`` is a text encoding Python knows."""
    try:
        "".encode(value)
        b"".decode(value)
    except (LookupError, TypeError):
        raise ConfigError(key, "a known text encoding such as 'utf-8' or 'latin-1'",
                          value) from None


class Duration(float):
    """Marker type for config fields given as durations; parsed to seconds."""


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is Duration:
        return "a duration such as 2, '500ms', '10s' or '5m'"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if origin in (list, tuple, set, frozenset):
        args = get_args(tp)
        inner = _describe(args[0]) if args else "anything"
        return f"a list of {inner}"
    if origin in (dict, Mapping) or tp is dict:
        return "a mapping"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is Duration:
        return parse_duration(value, key)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(key, _describe(tp), value)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own error names the deeper key
            return _coerce(real[0], value, key)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(key, _describe(tp), value)
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(key, "null", value)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise ConfigError(key, _describe(tp), value)
        args = get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return (origin or tp)(items) if (origin or tp) is not list else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(key, "a mapping", value)
        args = get_args(tp)
        if args:
            return {k: _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return parse_config(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, "true or false", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, "an integer", value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):  # .nan/.inf in YAML: nothing a setting can mean
                raise ConfigError(key, "a finite number", value)
            return number
        raise ConfigError(key, "a number", value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, "a string", value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    if callable(tp) and isinstance(tp, type) is False:
        return value
    raise ConfigError(key, _describe(tp), value)


def parse_config(schema: type[T], values: Mapping[str, Any] | T | None, where: str = "") -> T:
    """Build ``schema`` from ``values``, or raise ConfigError naming the key at fault."""
    if isinstance(values, schema):
        return values
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(where, f"a mapping of {schema.__name__} settings", values)
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    prefix = f"{where}." if where else ""
    unknown = [k for k in values if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields)) or "(no settings)"
        raise ConfigError(
            f"{prefix}{unknown[0]}", f"one of the known keys: {known}", has_value=False
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        key = f"{prefix}{name}"
        if name in values:
            value = values[name]
            if field.metadata.get("secret"):
                try:
                    kwargs[name] = _coerce(hints[name], value, key)
                except ConfigError as err:  # never echo a secret back
                    raise ConfigError(key, err.expected, "<redacted>") from None
            else:
                kwargs[name] = _coerce(hints[name], value, key)
        elif (
            field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING  # type: ignore[misc]
        ):
            raise ConfigError(key, f"a value ({_describe(hints[name])}); it is required", has_value=False)
    try:
        instance = schema(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(where, str(err), has_value=False) from None
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate(where)
    return instance


def describe_schema(schema: type) -> list[dict[str, Any]]:
    """One dict per config key: name, type, default, help, secret (for docs and the CLI)."""
    hints = typing.get_type_hints(schema)
    out = []
    for f in dataclasses.fields(schema):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
            required = False
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
            required = False
        else:
            default = None
            required = True
        is_secret = bool(f.metadata.get("secret"))
        out.append(
            {
                "name": f.name,
                "type": _describe(hints[f.name]),
                "required": required,
                "default": ("<redacted>" if default else None) if is_secret else default,
                "secret": is_secret,
                "help": f.metadata.get("help", ""),
            }
        )
    return out


def redacted(config: Any) -> dict[str, Any]:
    """A config as a dict with every secret replaced: safe for logs and errors."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = "<redacted>" if f.metadata.get("secret") and value is not None else value
    return out
