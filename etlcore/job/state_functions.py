"""Named update functions for keyed state in job files: ``update_state_by_key: sum``.

Each factory returns ``fn(new_values, state) -> state`` as Spark's
``updateStateByKey`` calls it (state None for a new key). States are plain
data (numbers, lists) so checkpoints can hold them (:mod:`etlcore.codec`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

UpdateFn = Callable[[list[Any], Any], Any]


def state_sum() -> UpdateFn:
    """The running total of the values."""
    return lambda new, old: (old or 0) + sum(new)


def state_count() -> UpdateFn:
    """How many values the key received."""
    return lambda new, old: (old or 0) + len(new)


def state_latest() -> UpdateFn:
    """The last value received (kept while none arrive)."""
    return lambda new, old: new[-1] if new else old


def state_set() -> UpdateFn:
    """The distinct values received, in first-seen order (a list: checkpoints hold lists)."""

    def update(new: list[Any], old: Any) -> list[Any]:
        values = list(old or [])
        seen = set(values)
        for v in new:
            if v not in seen:
                seen.add(v)
                values.append(v)
        return values

    return update


def state_top_n(n: int, by: str | None = None) -> UpdateFn:
    """The ``n`` largest values (or records by field ``by``), largest first."""

    def key(v: Any) -> Any:
        return v if by is None else v[by]

    def update(new: list[Any], old: Any) -> list[Any]:
        return heapq.nlargest(n, list(old or []) + list(new), key=key)

    return update


STATE_FUNCTIONS: dict[str, Callable[..., UpdateFn]] = {
    "sum": state_sum,
    "count": state_count,
    "latest": state_latest,
    "set": state_set,
    "top_n": state_top_n,
}
