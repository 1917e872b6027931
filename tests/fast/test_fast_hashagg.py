"""Hash aggregation: pinned semantics on both implementations, then C/reference parity."""

from __future__ import annotations

import math
import operator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import load
from tests.fast.strategies import batches, keys, pairs, reducers, same

REF = load("hashagg", "ref")
C = load("hashagg", "c")
NAN = float("nan")


def agg_results(mod: ModuleType, reducer: Any, data: list) -> list:
    agg = mod.HashAgg(reducer)
    agg.add_pairs(data)
    return agg.results()


# ---------------------------------------------------------------- semantics


def test_sum_ignores_none_and_keeps_ints_exact(hashagg: ModuleType) -> None:
    data = [("a", 2**62), ("b", None), ("a", 2**62), ("a", None), ("c", 1.5), ("c", 2)]
    out = agg_results(hashagg, "sum", data)
    assert out == [("a", 2**63), ("b", 0), ("c", 3.5)]
    assert type(out[0][1]) is int and type(out[1][1]) is int


def test_sum_rounds_like_a_python_loop(hashagg: ModuleType) -> None:
    data = [(1, 0.1), (1, 0.2), (1, 2**53), (1, 1), (1, 1.0), (2, 10**20), (2, 0.5)]
    expected: dict = {}
    for k, v in data:
        expected[k] = expected.get(k, 0) + v
    assert same(agg_results(hashagg, "sum", data), list(expected.items()))


def test_count_counts_every_record(hashagg: ModuleType) -> None:
    assert agg_results(hashagg, "count", [("a", None), ("b", 1), ("a", NAN)]) == [
        ("a", 2),
        ("b", 1),
    ]


def test_min_max_skip_none_and_propagate_nan(hashagg: ModuleType) -> None:
    data = [("a", 3), ("a", None), ("a", 1.5), ("b", None), ("c", 2), ("c", NAN), ("c", 1)]
    mins = dict(agg_results(hashagg, "min", data))
    maxs = dict(agg_results(hashagg, "max", data))
    assert mins["a"] == 1.5 and maxs["a"] == 3
    assert mins["b"] is None and maxs["b"] is None
    assert math.isnan(mins["c"]) and math.isnan(maxs["c"])
    # NaN wins wherever it sits in the input
    for order in ([NAN, 1, 5], [1, NAN, 5], [1, 5, NAN]):
        for reducer in ("min", "max"):
            ((_, value),) = agg_results(hashagg, reducer, [("k", v) for v in order])
            assert math.isnan(value)


def test_min_max_ties_keep_first_and_compare_exactly(hashagg: ModuleType) -> None:
    assert agg_results(hashagg, "min", [(0, 1), (0, 1.0), (0, True)]) == [(0, 1)]
    assert type(agg_results(hashagg, "max", [(0, 1.0), (0, 1)])[0][1]) is float
    # int vs float compare exactly, not through a lossy float conversion
    assert agg_results(hashagg, "max", [(0, float(2**53)), (0, 2**53 + 1)]) == [(0, 2**53 + 1)]


def test_mean(hashagg: ModuleType) -> None:
    data = [("a", 1), ("a", None), ("a", 2), ("b", None), ("c", 2**70), ("c", 2**70)]
    assert agg_results(hashagg, "mean", data) == [("a", 1.5), ("b", None), ("c", float(2**70))]
    assert hashagg.combine(data, "mean") == [("a", (3, 2)), ("b", (0, 0)), ("c", (2**71, 2))]


def test_callable_folds_raw_values_in_order(hashagg: ModuleType) -> None:
    seen: list = []

    def fold(a: Any, b: Any) -> Any:
        seen.append((a, b))
        return f"{a}+{b}"

    out = agg_results(hashagg, fold, [("k", 1), ("j", 9), ("k", None), ("k", 2.5)])
    assert out == [("k", "1+None+2.5"), ("j", 9)]
    assert seen == [(1, None), ("1+None", 2.5)]


def test_first_seen_key_order_and_dict_equality(hashagg: ModuleType) -> None:
    data = [(3, 1), ("x", 1), (1, 1), (1.0, 1), (True, 1), (3, 1)]
    out = agg_results(hashagg, "count", data)
    assert out == [(3, 2), ("x", 1), (1, 3)]
    assert type(out[2][0]) is int  # the first-seen key object is kept


def test_int_keys_switch_to_generic_index(hashagg: ModuleType) -> None:
    agg = hashagg.HashAgg("sum")
    agg.add_pairs([(i, i) for i in range(1000)])  # int64 keys: C table
    agg.add_pairs([(2**64, 1), (5.0, 1), ("s", 1), (999, 1)])  # now equality via dict
    out = dict(agg.results())
    assert len(agg) == 1002 and out[5] == 6 and out[999] == 1000 and out[2**64] == 1
    assert list(out)[:3] == [0, 1, 2]


def test_partials_merge_across_partitions(hashagg: ModuleType) -> None:
    data = [(i % 7, i * 0.5 if i % 3 else None) for i in range(60)]
    for reducer in ("sum", "count", "min", "max", "mean", operator.add):
        if reducer is operator.add:
            data = [(k, v or 0) for k, v in data]
        parts = [hashagg.combine(data[i::3], reducer) for i in range(3)]
        merged = dict(hashagg.merge(parts, reducer))
        whole = dict(agg_results(hashagg, reducer, data))
        assert merged.keys() == whole.keys()
        for key, value in whole.items():
            assert merged[key] == pytest.approx(value, nan_ok=True), reducer


def test_count_values(hashagg: ModuleType) -> None:
    assert hashagg.count_values(["b", "a", "b", 1, 1.0, None]) == [
        ("b", 2),
        ("a", 1),
        (1, 2),
        (None, 1),
    ]
    assert hashagg.count_values([]) == []
    assert hashagg.count_values(iter([7, 7])) == [(7, 2)]


def test_folds_read_any_iterable_once_and_say_how_many_they_read(hashagg: ModuleType) -> None:
    words = (w for line in ["b a b", "", "c b"] for w in line.split())
    agg = hashagg.HashAgg("count")
    assert agg.count_each(words) == 5
    assert agg.count_each(iter(["a", "d"])) == 2  # a second call adds to the first
    assert agg.results() == [("b", 3), ("a", 2), ("c", 1), ("d", 1)]
    assert next(words, None) is None  # read to its end, once
    sums = hashagg.HashAgg("sum")
    assert sums.add_pairs((k, v) for k, v in [("x", 1), ("y", 2.5), ("x", 3)]) == 3
    assert sums.add_pairs([]) == 0
    assert sums.results() == [("x", 4), ("y", 2.5)]
    with pytest.raises(ValueError, match="aggregator of 'count'"):
        hashagg.HashAgg("sum").count_each(["a"])


def test_a_fold_keeps_no_value_it_has_counted_but_the_first_of_each_key(
        hashagg: ModuleType) -> None:
    """What makes folding a narrow chain's lazy output worth it: each value is freed once
    counted, so a partition's values are never all alive at once."""
    alive = [0, 0]  # now, most

    class Word:
        def __init__(self, text: str) -> None:
            self.text = text
            alive[0] += 1
            alive[1] = max(alive[1], alive[0])

        def __del__(self) -> None:
            alive[0] -= 1

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Word) and other.text == self.text

        def __hash__(self) -> int:
            return hash(self.text)

    agg = hashagg.HashAgg("count")
    assert agg.count_each(Word(f"w{i % 10}") for i in range(1000)) == 1000
    assert sorted((k.text, n) for k, n in agg.results()) == [(f"w{i}", 100) for i in range(10)]
    assert alive[1] <= 12  # the ten keys held, the value just counted and the next one


def test_state_round_trip(hashagg: ModuleType) -> None:
    agg = hashagg.HashAgg("mean")
    agg.add_pairs([("a", 1), ("b", 2.5), ("a", None)])
    state = agg.to_state()
    assert state == (1, [("a", (1, 1)), ("b", (2.5, 1))])
    again = hashagg.HashAgg.from_state("mean", state)
    assert again.results() == agg.results() and len(again) == 2
    with pytest.raises(ValueError, match="unsupported HashAgg state"):
        hashagg.HashAgg.from_state("mean", (99, []))


def test_bad_reducers_and_input(hashagg: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown reducer 'avg'"):
        hashagg.HashAgg("avg")
    with pytest.raises(TypeError, match="reducer must be"):
        hashagg.HashAgg(3)
    with pytest.raises(TypeError, match="unhashable"):
        hashagg.HashAgg("sum").add_pairs([([1], 1)])
    with pytest.raises(ValueError):
        hashagg.HashAgg("sum").add_pairs([(1, 2, 3)])
    with pytest.raises(TypeError):
        hashagg.HashAgg("sum").add_pairs([(1, "text")])


def test_empty(hashagg: ModuleType) -> None:
    for reducer in ("sum", "count", "min", "max", "mean", operator.add):
        agg = hashagg.HashAgg(reducer)
        agg.add_pairs([])
        assert agg.results() == agg.partials() == [] and len(agg) == 0
        assert hashagg.merge([], reducer) == []


# ---------------------------------------------------------------- parity


def run(mod: ModuleType, reducer: Any, data_batches: list[list]) -> list:
    """Everything observable about a HashAgg after some batches."""
    agg = mod.HashAgg(reducer)
    for batch in data_batches:
        agg.add_pairs(batch)
    restored = mod.HashAgg.from_state(reducer, agg.to_state())
    return [agg.results(), agg.partials(), len(agg), agg.to_state(), restored.partials()]


@given(batches, reducers)
def test_hashagg_parity(data_batches: list[list], reducer: Any) -> None:
    assert same(run(C, reducer, data_batches), run(REF, reducer, data_batches))


@given(st.lists(pairs, max_size=4), reducers)
def test_combine_merge_parity(splits: list[list], reducer: Any) -> None:
    ref_partials = [REF.combine(split, reducer) for split in splits]
    c_partials = [C.combine(split, reducer) for split in splits]
    assert same(c_partials, ref_partials)
    assert same(C.merge(ref_partials, reducer), REF.merge(ref_partials, reducer))


@given(st.lists(st.integers(-3, 3), max_size=200), st.sampled_from([1.0, 0.1, 1e16]))
def test_float_sums_are_bit_identical(keys_: list[int], scale: float) -> None:
    data = [(k, (i % 13) * scale - 3.3) for i, k in enumerate(keys_)]
    assert same(C.combine(data, "sum"), REF.combine(data, "sum"))
    assert same(C.combine(data, "mean"), REF.combine(data, "mean"))


@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-(2**63), 2**63 - 1)), max_size=50))
def test_int64_overflow_falls_back_to_python_ints(data: list) -> None:
    assert C.combine(data, "sum") == REF.combine(data, "sum")
    assert C.combine([(k, v) for k, v in data] * 3, "sum") == REF.combine(data * 3, "sum")


@given(st.lists(keys, max_size=60))
def test_count_values_parity(values: list) -> None:
    assert same(C.count_values(values), REF.count_values(values))


@given(st.lists(keys, max_size=60))
def test_count_each_parity(values: list) -> None:
    ref, c = REF.HashAgg("count"), C.HashAgg("count")
    assert c.count_each(iter(values)) == ref.count_each(iter(values)) == len(values)
    assert same(c.results(), ref.results())


@given(st.lists(pairs, max_size=4), reducers)
def test_partials_sent_as_columns_merge_as_pairs_do(splits: list[list], reducer: Any) -> None:
    """A map side sends ``partial_columns``; ``merge_columns`` gives ``merge``'s answer."""
    for mod in (REF, C):
        aggs = [mod.HashAgg(reducer) for _ in splits]
        for agg, split in zip(aggs, splits, strict=True):
            agg.add_pairs(split)
        columns = [agg.partial_columns() for agg in aggs]
        assert same([list(zip(*c, strict=True)) for c in columns], [a.partials() for a in aggs])
        assert same(mod.merge_columns(columns, reducer),
                    REF.merge([a.partials() for a in aggs], reducer))
    with pytest.raises(ValueError, match="1 keys but 2 partials"):
        C.HashAgg("sum").merge_columns(["a"], [1, 2])
    with pytest.raises(ValueError, match="1 keys but 2 partials"):
        REF.HashAgg("sum").merge_columns(["a"], [1, 2])


def test_many_keys_parity() -> None:
    data = [(i * 7919 % 5003, float(i)) for i in range(20_000)] + [("s", 1)]
    for reducer in ("sum", "mean", "max"):
        assert same(C.combine(data, reducer), REF.combine(data, reducer))
    words = [(f"w{i % 3001}", 1) for i in range(20_000)]
    assert C.combine(words, "count") == REF.combine(words, "count")


# ---------------------------------------------------------------- field references


@given(pairs=pairs, reducer=reducers, as_dict=st.booleans())
def test_add_fields_equals_add_pairs_on_both_implementations(pairs: list, reducer: Any,
                                                             as_dict: bool) -> None:
    records = [{"k": k, "v": v} for k, v in pairs] if as_dict else [(0, k, v) for k, v in pairs]
    key, value = ("k", "v") if as_dict else (1, -1)
    want = load("hashagg", "ref").HashAgg(reducer)
    want.add_pairs(pairs)
    for impl in ("ref", "c"):
        agg = load("hashagg", impl).HashAgg(reducer)
        agg.add_fields(records, key, value)
        assert same(agg.partials(), want.partials())


def test_add_fields_reads_the_record_as_value_and_raises_on_a_missing_field(
        hashagg: ModuleType) -> None:
    agg = hashagg.HashAgg("count")
    agg.add_fields([("a", 1), ["a"], {0: "b"}], 0)
    assert agg.results() == [("a", 2), ("b", 1)]
    with pytest.raises(IndexError):
        agg.add_fields([("a",)], 1)
    with pytest.raises(KeyError):
        agg.add_fields([{"x": 1}], "k")
    with pytest.raises(TypeError, match="field reference"):
        agg.add_fields([("a",)], 0.5)
