"""Field conditions (``{field, op, value}``) shared by ``filter`` and ``drop_if``.

A condition is data, not code, so a YAML job can say what to keep or drop
without importing anything.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etlcore.config import option, parse_config
from etlcore.errors import ConfigError

_MISSING = object()

_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
}
_UNARY = ("exists", "missing")
OPS = tuple(_BINARY) + _UNARY + ("matches",)


@dataclass
class ConditionSpec:
    field: str = option(help="the record field the condition reads")
    op: str = option("==", help="one of " + ", ".join(OPS))
    value: Any = option(None, help="what the field is compared with (unused by exists/missing)")


def get_field(record: Any, field: str) -> Any:
    """``record[field]``, or a sentinel when the record lacks it (dicts only)."""
    if isinstance(record, dict):
        return record.get(field, _MISSING)
    return _MISSING


def make_condition(spec: Any, key: str) -> Callable[[Any], bool]:
    """A predicate from a ``{field, op, value}`` mapping; ConfigError names ``key``."""
    cond = parse_config(ConditionSpec, spec, key)
    if cond.op not in OPS:
        raise ConfigError(f"{key}.op", "one of " + ", ".join(OPS), cond.op)
    field, value = cond.field, cond.value
    if cond.op in ("in", "not_in") and not isinstance(value, (list, tuple, set, str)):
        raise ConfigError(f"{key}.value", f"a list for op '{cond.op}'", value)
    if cond.op == "exists":
        return lambda r: get_field(r, field) not in (_MISSING, None)
    if cond.op == "missing":
        return lambda r: get_field(r, field) in (_MISSING, None)
    if cond.op == "matches":
        try:
            pattern = re.compile(str(value))
        except re.error as err:
            raise ConfigError(f"{key}.value", f"a regular expression ({err})", value) from None
        return lambda r: isinstance(v := get_field(r, field), str) and bool(pattern.search(v))
    compare = _BINARY[cond.op]

    def test(record: Any) -> bool:
        got = get_field(record, field)
        if got is _MISSING:
            return False
        try:
            return bool(compare(got, value))
        except TypeError:  # e.g. None < 3: a record that cannot be compared does not match
            return False

    return test


def describe_condition(spec: Any) -> str:
    """``lang == 'xx'``: how a condition reads in a dead letter's reason."""
    if isinstance(spec, dict):
        op = spec.get("op", "==")
        if op in _UNARY:
            return f"{spec.get('field')} {op}"
        return f"{spec.get('field')} {op} {spec.get('value')!r}"
    return getattr(spec, "__name__", repr(spec))
