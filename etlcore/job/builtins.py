"""Named record functions a YAML job may use without importing code.

Each factory takes parsed settings and returns a plain function; the
operator table in :mod:`etlcore.job.operators` says whether it is used as a
map, a flat_map or a whole-batch transform.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from etlcore.batch import BatchInfo

_HASHTAG = re.compile(r"#(\w+)")
_WORD = re.compile(r"[\w']+")


def _text(record: Any, field: str | None) -> str:
    value = record if field is None else record[field]
    if not isinstance(value, str):
        raise TypeError(f"expected text in {field or 'the record'}, got {type(value).__name__}")
    return value


def extract_hashtags(field: str | None, lower: bool) -> Callable[[Any], list[str]]:
    """``"#Rust and #rust"`` -> ``["#rust", "#rust"]`` (one record per hashtag)."""

    def tags(record: Any) -> list[str]:
        found = _HASHTAG.findall(_text(record, field))
        return ["#" + (t.lower() if lower else t) for t in found]

    return tags


def split_words(field: str | None, lower: bool) -> Callable[[Any], list[str]]:
    """A line of text -> its words (letters, digits, apostrophes)."""

    def words(record: Any) -> list[str]:
        found = _WORD.findall(_text(record, field))
        return [w.lower() for w in found] if lower else found

    return words


def select_fields(fields: list[str]) -> Callable[[Any], dict[str, Any]]:
    """A dict with only ``fields`` (missing ones are left out)."""
    return lambda r: {f: r[f] for f in fields if f in r}


def pluck(field: str) -> Callable[[Any], Any]:
    """``record[field]``."""
    return lambda r: r[field]


def key_by(field: str) -> Callable[[Any], tuple[Any, Any]]:
    """``(record[field], record)``: ready for keyed operators."""
    return lambda r: (r[field], r)


def pair(key: str, value: str | None, constant: Any) -> Callable[[Any], tuple[Any, Any]]:
    """``(record[key], record[value])``, or ``(record[key], constant)`` without ``value``."""
    if value is None:
        return lambda r: (r[key], constant)
    return lambda r: (r[key], r[value])


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def to_dict(fields: list[str], batch_time: str | None
            ) -> Callable[[list[Any], BatchInfo], Iterable[dict[str, Any]]]:
    """Tuples -> dicts named by ``fields``; optionally stamped with the batch time (UTC).

    The batch time comes from the logged plan, so a replayed batch writes the
    same rows: what makes an upsert keyed on it exactly-once.
    """
    def convert(records: list[Any], info: BatchInfo) -> list[dict[str, Any]]:
        stamp = _iso(info.batch_time) if batch_time else None
        out = []
        for r in records:
            values = r if isinstance(r, (tuple, list)) else (r,)
            if len(values) != len(fields):
                raise ValueError(f"to_dict: {len(fields)} fields {fields} for a record of "
                                 f"{len(values)} values")
            row = dict(zip(fields, values, strict=True))
            if batch_time:
                row = {batch_time: stamp, **row}
            out.append(row)
        return out

    return convert


def sort_records(by: str | int | None, descending: bool, limit: int | None
                 ) -> Callable[[list[Any]], list[Any]]:
    """The whole batch sorted by a field (dicts) or a position (tuples), optionally cut."""

    def key(r: Any) -> Any:
        return r if by is None else r[by]

    def sort(records: list[Any]) -> list[Any]:
        ordered = sorted(records, key=key, reverse=descending)
        return ordered if limit is None else ordered[:limit]

    return sort
