"""Reference combine-by-key: the executable specification of ``hashagg_c``.

Semantics (both implementations, tested against each other):

* ``sum`` starts at ``0`` and adds non-None values in input order, so floats
  round exactly as ``d[k] = d.get(k, 0) + v`` would and ints stay exact.
* ``count`` counts records, whatever their value.
* ``min``/``max`` ignore None (None if nothing else was seen); any NaN wins,
  so the result does not depend on where the NaN sat in the input.
* ``mean`` keeps ``(sum, count)`` of non-None values; None if the count is 0.
* a callable ``f(a, b)`` folds raw values (None included) in input order,
  as Spark's ``reduceByKey``.

Keys come out in first-seen order, which keeps micro-batch output
deterministic for replay. If a reducer raises, the aggregator is left partly
updated: discard it and retry the batch from its checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ._common import (
    COUNT,
    MAX,
    MEAN,
    MIN,
    STATE_VERSION,
    SUM,
    check_field,
    check_state,
    reducer_code,
)

__all__ = ["HashAgg", "combine", "count_values", "merge", "merge_columns"]

Reducer = str | Callable[[Any, Any], Any]


def _is_nan(value: Any) -> bool:
    """NaN test that is safe on non-float values."""
    return isinstance(value, float) and math.isnan(value)


def add_sum(acc: Any, value: Any) -> Any:
    """Fold one value into a sum; None is skipped (SQL ``SUM``)."""
    return acc if value is None else acc + value


def add_min(acc: Any, value: Any) -> Any:
    """Fold one value into a min: None skipped, NaN absorbing, ties keep the first."""
    if value is None or _is_nan(acc):
        return acc
    if acc is None or _is_nan(value) or value < acc:
        return value
    return acc


def add_max(acc: Any, value: Any) -> Any:
    """Fold one value into a max: None skipped, NaN absorbing, ties keep the first."""
    if value is None or _is_nan(acc):
        return acc
    if acc is None or _is_nan(value) or value > acc:
        return value
    return acc


class HashAgg:
    """Per-key running aggregates for one reducer (map-side combine and reduce-side merge)."""

    def __init__(self, reducer: Reducer) -> None:
        self._code = reducer_code(reducer)
        self._fn = reducer
        # key -> partial; for mean the partial is a [sum, count] list
        self._acc: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self._acc)

    def add_pairs(self, pairs: Iterable[tuple[Any, Any]]) -> int:
        """Fold raw ``(key, value)`` records into the aggregates; ``pairs`` is any iterable,
        read once. Returns how many pairs were read."""
        acc = self._acc
        code = self._code
        n = 0
        if code == SUM:
            for key, value in pairs:
                acc[key] = add_sum(acc.get(key, 0), value)
                n += 1
        elif code == COUNT:
            for key, _value in pairs:
                acc[key] = acc.get(key, 0) + 1
                n += 1
        elif code == MIN:
            for key, value in pairs:
                acc[key] = add_min(acc.get(key), value)
                n += 1
        elif code == MAX:
            for key, value in pairs:
                acc[key] = add_max(acc.get(key), value)
                n += 1
        elif code == MEAN:
            for key, value in pairs:
                state = acc.get(key)
                if state is None:
                    state = acc[key] = [0, 0]
                if value is not None:
                    state[0] = state[0] + value
                    state[1] += 1
                n += 1
        else:
            fn = self._fn
            for key, value in pairs:
                acc[key] = fn(acc[key], value) if key in acc else value
                n += 1
        return n

    def count_each(self, values: Iterable[Any]) -> int:
        """Count every value as one occurrence of itself (``count_by_value``'s fold, on an
        aggregator of ``"count"``); ``values`` is any iterable, read once. Returns how many
        values were read."""
        if self._code != COUNT:
            raise ValueError("count_each needs an aggregator of 'count'")
        acc = self._acc
        n = 0
        for value in values:
            acc[value] = acc.get(value, 0) + 1
            n += 1
        return n

    def add_fields(self, records: Iterable[Any], key: Any, value: Any = None) -> None:
        """Fold ``(record[key], record[value])`` (value None: the record) for every record.

        ``key`` and ``value`` are field references (an int index or a str key);
        the compiled kernel reads them without a Python call per record.
        """
        check_field(key, "key")
        check_field(value, "value")
        if key is None or isinstance(key, list) or isinstance(value, list):
            raise TypeError("add_fields: key must be a field reference, value one or None")
        for record in records:  # record by record: the first error is the first record's
            self.add_pairs([(record[key], record if value is None else record[value])])

    def merge_partials(self, partials: Iterable[tuple[Any, Any]]) -> None:
        """Merge ``(key, partial)`` pairs from ``partials()`` of other aggregators."""
        acc = self._acc
        code = self._code
        if code == SUM:
            for key, part in partials:
                acc[key] = add_sum(acc.get(key, 0), part)
        elif code == COUNT:
            for key, part in partials:
                acc[key] = acc.get(key, 0) + part
        elif code in (MIN, MAX):
            step = add_min if code == MIN else add_max
            for key, part in partials:
                acc[key] = step(acc.get(key), part)
        elif code == MEAN:
            for key, part in partials:
                part_sum, part_count = part
                state = acc.get(key)
                if state is None:
                    state = acc[key] = [0, 0]
                state[0] = add_sum(state[0], part_sum)
                state[1] += part_count
        else:
            fn = self._fn
            for key, part in partials:
                acc[key] = fn(acc[key], part) if key in acc else part

    def merge_columns(self, keys: list[Any], partials: list[Any]) -> None:
        """``merge_partials`` of ``zip(keys, partials)``: partials sent as two columns."""
        keys, partials = list(keys), list(partials)
        if len(keys) != len(partials):
            raise ValueError(f"merge_columns: {len(keys)} keys but {len(partials)} partials")
        self.merge_partials(zip(keys, partials, strict=True))

    def partial_columns(self) -> tuple[list[Any], list[Any]]:
        """``partials()`` as ``(keys, partials)``, two lists in first-seen key order."""
        pairs = self.partials()
        return [k for k, _ in pairs], [p for _, p in pairs]

    def _subtract_one(self, key: Any, part: Any, inverse: Callable[[Any, Any], Any] | None) -> None:
        """Take one partial back out of ``key`` (sliding windows' "calculate deletes")."""
        acc = self._acc
        if self._code == MEAN:
            state = acc[key]
            state[0] = state[0] - part[0]
            state[1] -= part[1]
        elif inverse is None:  # sum and count
            acc[key] = acc[key] - part
        else:
            acc[key] = inverse(acc[key], part)

    def _discard(self, key: Any) -> None:
        """Forget ``key`` once no record in the window contributes to it."""
        del self._acc[key]

    def partials(self) -> list[tuple[Any, Any]]:
        """Mergeable per-key partials (``(sum, count)`` for mean), first-seen key order."""
        if self._code == MEAN:
            return [(key, (state[0], state[1])) for key, state in self._acc.items()]
        return list(self._acc.items())

    def results(self) -> list[tuple[Any, Any]]:
        """Finalized per-key values, first-seen key order."""
        if self._code == MEAN:
            return [
                (key, state[0] / state[1] if state[1] else None) for key, state in self._acc.items()
            ]
        return list(self._acc.items())

    def to_state(self) -> tuple[int, list[tuple[Any, Any]]]:
        """Checkpoint as plain data: ``(version, partials)``."""
        return (STATE_VERSION, self.partials())

    @classmethod
    def from_state(cls, reducer: Reducer, state: Any) -> HashAgg:
        """Rebuild an aggregator from ``to_state()`` (the reducer is code, so not stored)."""
        agg = cls(reducer)
        agg.merge_partials(check_state(state, "HashAgg"))
        return agg


def combine(pairs: Iterable[tuple[Any, Any]], reducer: Reducer) -> list[tuple[Any, Any]]:
    """Map-side combine: raw pairs in, mergeable partials out."""
    agg = HashAgg(reducer)
    agg.add_pairs(pairs)
    return agg.partials()


def merge(
    partial_lists: Iterable[Iterable[tuple[Any, Any]]], reducer: Reducer
) -> list[tuple[Any, Any]]:
    """Reduce-side merge: partial lists (e.g. one per partition) in, final values out."""
    agg = HashAgg(reducer)
    for partials in partial_lists:
        agg.merge_partials(partials)
    return agg.results()


def merge_columns(blocks: Iterable[tuple[list[Any], list[Any]]],
                  reducer: Reducer) -> list[tuple[Any, Any]]:
    """``merge`` of partials sent as ``(keys, partials)`` columns, one pair a block."""
    agg = HashAgg(reducer)
    for keys, partials in blocks:
        agg.merge_columns(keys, partials)
    return agg.results()


def count_values(values: Iterable[Any]) -> list[tuple[Any, int]]:
    """``count_by_value``: occurrences of each distinct value, first-seen order."""
    agg = HashAgg("count")
    agg.count_each(values)
    return agg.results()
