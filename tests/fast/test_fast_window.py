"""Pane store and sliding windows: semantics on both implementations, then parity."""

from __future__ import annotations

import math
import operator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import load
from tests.fast.strategies import (
    batches,
    int_keys,
    int_pairs,
    pick_fn,
    reducers,
    same,
    values,
)
from tests.fast.strategies import pairs as any_pairs

REF = load("window", "ref")
C = load("window", "c")
HREF = load("hashagg", "ref")


def scratch(reducer: Any, panes: list[list]) -> dict:
    """Window result computed the slow, obvious way: merge the live panes' partials."""
    return dict(HREF.merge([HREF.combine(p, reducer) for p in panes], reducer))


# ---------------------------------------------------------------- PaneStore


def test_pane_store(window: ModuleType) -> None:
    store = window.PaneStore("sum")
    store.add(5, [("a", 1), ("b", 2)])
    store.add(3, [("b", 10), ("c", None)])
    store.add(5, [("a", 1)])
    store.add(7, [("d", 4)])
    assert store.panes() == [3, 5, 7] and len(store) == 3
    # first-seen order over panes in ascending order
    assert store.merge_range(3, 5) == [("b", 12), ("c", 0), ("a", 2)]
    assert store.merge_range(4, 100) == [("a", 2), ("b", 2), ("d", 4)]
    assert store.merge_range(8, 9) == [] and store.merge_range(5, 3) == []
    state = store.to_state()
    store.drop_before(5)
    assert store.panes() == [5, 7]
    again = window.PaneStore.from_state("sum", state)
    assert again.panes() == [3, 5, 7] and again.merge_range(0, 9) == [
        ("b", 12),
        ("c", 0),
        ("a", 2),
        ("d", 4),
    ]


def test_pane_store_min_max_mean(window: ModuleType) -> None:
    for reducer, expected in (("min", 1), ("max", 5), ("mean", 3.0)):
        store = window.PaneStore(reducer)
        store.add(0, [("k", 5), ("k", None)])
        store.add(1, [("k", 1), ("k", 3)])
        assert store.merge_range(0, 1) == [("k", expected)]
    store = window.PaneStore("max")
    store.add(0, [("k", 1)])
    store.add(1, [("k", float("nan"))])
    assert math.isnan(store.merge_range(0, 1)[0][1])


# ---------------------------------------------------------------- SlidingWindow


def test_sliding_sum_adds_and_expires(window: ModuleType) -> None:
    w = window.SlidingWindow(2, "sum")
    assert w.incremental
    w.push([("a", 1), ("b", 2)])
    assert w.result() == [("a", 1), ("b", 2)]
    w.push([("b", 3)])
    assert w.result() == [("a", 1), ("b", 5)]
    w.push([("a", 4)])  # pane 1 expires: a keeps 4 (from pane 3), b keeps 3
    assert w.result() == [("a", 4), ("b", 3)]
    w.push([])  # pane 2 expires: b leaves the window
    assert w.result() == [("a", 4)] and len(w) == 1
    w.push([("b", None)])  # a None-only key is in the window: sum 0
    assert w.result() == [("b", 0)]


def test_keys_in_window_entry_order(window: ModuleType) -> None:
    for reducer in ("count", "max"):
        w = window.SlidingWindow(2, reducer)
        for pane in ([("a", 1)], [("b", 1)], [("a", 1)], [("b", 1)]):
            w.push(pane)
        # a entered first and never left; b left when pane 2 expired and came back
        assert [k for k, _ in w.result()] == ["a", "b"]


def test_min_max_recompute(window: ModuleType) -> None:
    w = window.SlidingWindow(2, "max")
    assert not w.incremental
    for pane, expected in (
        ([("k", 5)], 5),
        ([("k", 1)], 5),
        ([("k", 2)], 2),  # 5 expired: a max cannot be subtracted, so it is recomputed
        ([("k", None)], 2),
        ([], None),
    ):
        w.push(pane)
        assert w.result() == [("k", expected)]


def test_mean_and_callable_inverse(window: ModuleType) -> None:
    w = window.SlidingWindow(3, "mean")
    for pane in ([("k", 1)], [("k", 2), ("k", None)], [("k", 3)], [("k", 10)]):
        w.push(pane)
    assert w.result() == [("k", 5.0)]
    w = window.SlidingWindow(2, operator.add, operator.sub)
    assert w.incremental
    for pane in ([("k", 1), ("j", 1)], [("k", 2)], [("k", 4)]):
        w.push(pane)
    assert w.result() == [("k", 6)]
    w = window.SlidingWindow(2, operator.add)  # no inverse: recompute
    assert not w.incremental
    for pane in ([("k", 1)], [("k", 2)], [("k", 4)]):
        w.push(pane)
    assert w.result() == [("k", 6)]


def test_sliding_window_errors(window: ModuleType) -> None:
    with pytest.raises(ValueError, match="window_panes"):
        window.SlidingWindow(0, "sum")
    with pytest.raises(ValueError, match="inverse only applies to a callable"):
        window.SlidingWindow(2, "max", operator.sub)
    with pytest.raises(TypeError, match="inverse must be a callable"):
        window.SlidingWindow(2, operator.add, 3)
    with pytest.raises(ValueError, match="unknown reducer"):
        window.PaneStore("median")
    with pytest.raises(ValueError, match="unsupported SlidingWindow state"):
        window.SlidingWindow.from_state(2, "sum", None, ("bad",))


def test_sliding_state_round_trip(window: ModuleType) -> None:
    w = window.SlidingWindow(3, "sum")
    for pane in ([("a", 0.1)], [("a", 0.2), ("b", 1)], [("a", 0.3)]):
        w.push(pane)
    state = w.to_state()
    again = window.SlidingWindow.from_state(3, "sum", None, state)
    assert again.to_state() == state
    for pane in ([("a", 0.7)], [("c", 1)]):
        w.push(pane)
        again.push(pane)
        assert same(again.result(), w.result())


# ---------------------------------------------------------------- parity


def observe(mod: ModuleType, size: int, reducer: Any, inverse: Any, panes: list[list]) -> list:
    """Everything observable after each push, plus a restore half-way."""
    w = mod.SlidingWindow(size, reducer, inverse)
    seen = []
    for i, pane in enumerate(panes):
        w.push(pane)
        if i == len(panes) // 2:
            w = mod.SlidingWindow.from_state(size, reducer, inverse, w.to_state())
        seen.append([w.result(), len(w), w.to_state()])
    return seen


@given(st.integers(1, 4), reducers, batches)
def test_sliding_window_parity(size: int, reducer: Any, panes: list[list]) -> None:
    assert same(observe(C, size, reducer, None, panes), observe(REF, size, reducer, None, panes))


int_panes = st.lists(
    st.lists(st.tuples(int_keys, st.integers(-(2**64), 2**64)), max_size=12), max_size=8
)


@given(st.integers(1, 4), st.sampled_from(["sum", "count", "mean", "add"]), int_panes)
def test_incremental_equals_from_scratch(size: int, name: str, panes: list[list]) -> None:
    reducer, inverse = (operator.add, operator.sub) if name == "add" else (name, None)
    for mod in (REF, C):
        w = mod.SlidingWindow(size, reducer, inverse)
        for i, pane in enumerate(panes):
            w.push(pane)
            live = panes[max(0, i + 1 - size) : i + 1]
            assert dict(w.result()) == scratch(reducer, live)


moderate = st.one_of(st.none(), st.integers(-1000, 1000), st.floats(-1e6, 1e6))


@given(
    st.integers(1, 3),
    st.lists(st.lists(st.tuples(st.integers(0, 3), moderate), max_size=8), max_size=6),
)
def test_float_windows_close_to_from_scratch(size: int, panes: list[list]) -> None:
    # Subtracting an expired pane rounds differently from re-adding the live ones
    # (and cancels catastrophically across magnitudes, as any add/subtract window):
    # close, not equal, for moderate floats.
    for mod in (REF, C):
        for reducer in ("sum", "mean", "min", pick_fn):
            w = mod.SlidingWindow(size, reducer)
            for i, pane in enumerate(panes):
                w.push(pane)
                expected = scratch(reducer, panes[max(0, i + 1 - size) : i + 1])
                got = dict(w.result())
                assert got.keys() == expected.keys()
                for key, value in expected.items():
                    if reducer in ("sum", "mean") and value is not None:
                        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6)
                    else:
                        assert same(got[key], value)


@given(
    st.lists(
        st.tuples(st.integers(-3, 12), st.lists(st.tuples(int_keys, values), max_size=8)),
        max_size=8,
    ),
    st.integers(-3, 12),
    st.integers(-3, 12),
    reducers,
)
def test_pane_store_parity(adds: list, first: int, last: int, reducer: Any) -> None:
    def go(mod: ModuleType) -> list:
        store = mod.PaneStore(reducer)
        for pane, data in adds:
            store.add(pane, data)
        out = [store.merge_range(first, last), store.panes(), store.to_state()]
        store.drop_before(first)
        restored = mod.PaneStore.from_state(reducer, store.to_state())
        return [*out, store.panes(), restored.merge_range(-10, 20)]

    assert same(go(C), go(REF))


@given(
    st.lists(
        st.tuples(st.integers(-3, 12), st.lists(st.tuples(int_keys, values), max_size=8)),
        max_size=8,
    ),
    st.integers(1, 3),
    reducers,
)
def test_merged_partials_equal_one_store_fed_everything(adds: list, stores: int,
                                                        reducer: Any) -> None:
    """A map side's combine: stores fed parts of the input, their panes merged into one,
    give the store that saw it all (count and mean merge partials, not raw values)."""
    def go(mod: ModuleType) -> list:
        whole = mod.PaneStore(reducer)
        parts = [mod.PaneStore(reducer) for _ in range(stores)]
        for i, (pane, data) in enumerate(adds):
            whole.add(pane, data)
            parts[i % stores].add(pane, data)
        merged = mod.PaneStore(reducer)
        for part in parts:
            for pane, partials in part.to_state()[1]:
                merged.merge(pane, partials)
        return [merged.merge_range(-10, 20), merged.panes(), whole.merge_range(-10, 20),
                whole.panes()]

    for mod in (C, REF):
        got = go(mod)
        assert got[1] == got[3]
        if reducer in ("count", "min", "max"):  # order-free (float sums round by order)
            assert same(sorted(got[0]), sorted(got[2]))
    assert same(go(C), go(REF))


# ---------------------------------------------------------------- columns (field references)


def _to_us(t: Any) -> int:
    """The careful conversion the engine passes (etlcore.eventtime.base.to_us)."""
    from etlcore.eventtime.base import to_us

    return to_us(t)


def test_columns_read_tuple_list_and_dict_fields(window: ModuleType) -> None:
    recs = [(1.5, "a", 10), [2, "b", None], (0.25, "c", 3)]
    keys, times, vals, late, top = window.columns(recs, 0, 1, 2, 1_000_000, _to_us)
    assert (keys, times, vals, late, top) == (["a", "b"], [1_500_000, 2_000_000], [10, None],
                                              [2], 2_000_000)
    dicts = [{"ts": 3, "u": "x"}, {"ts": 1, "u": "y"}]
    assert window.columns(dicts, "ts", "u", None, None, _to_us) == (
        ["x", "y"], [3_000_000, 1_000_000], dicts, [], 3_000_000)
    # a column computed beforehand (a callable's) and key=None
    assert window.columns(dicts, [5, 6], None, ["p", "q"], None, _to_us) == (
        [None, None], [5_000_000, 6_000_000], ["p", "q"], [], 6_000_000)
    with pytest.raises(KeyError):
        window.columns([{"ts": 1}], "ts", "u", None, None, _to_us)
    with pytest.raises(IndexError):
        window.columns([(1,)], 0, 1, None, None, _to_us)
    with pytest.raises(TypeError, match="field reference"):
        window.columns([(1,)], 0, 1.5, None, None, _to_us)


field_values = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6), st.text(max_size=2),
                         st.none())
records = st.lists(st.one_of(
    st.tuples(field_values, field_values, field_values),
    st.lists(field_values, max_size=4),
    st.dictionaries(st.sampled_from(["ts", "k", "v", 0]), field_values, max_size=4),
), max_size=12)
refs = st.one_of(st.integers(-4, 3), st.sampled_from(["ts", "k", "v"]))


@given(recs=records, time=refs, key=st.one_of(st.none(), refs), value=st.one_of(st.none(), refs),
       cutoff=st.one_of(st.none(), st.integers(-10**12, 10**12)))
def test_columns_compiled_and_reference_agree(recs: list, time: Any, key: Any, value: Any,
                                              cutoff: Any) -> None:
    got = []
    for impl in (REF, C):
        try:
            got.append(impl.columns(recs, time, key, value, cutoff, _to_us))
        except (KeyError, IndexError, TypeError, ValueError) as err:
            got.append(type(err))
    assert same(got[0], got[1])


def test_rows_of_plain_values_leave_the_cyclic_gc_alone() -> None:
    import gc

    from etlcore.eventtime import WindowResult

    flat, nested = C.rows(WindowResult, [("k", 2.5), ("k", [1])], 0.0, 1.0)
    assert flat == WindowResult("k", 0.0, 1.0, 2.5) and not gc.is_tracked(flat)
    assert nested == WindowResult("k", 0.0, 1.0, [1]) and gc.is_tracked(nested)  # may cycle
    assert REF.rows(WindowResult, [("k", 2.5)], 0.0, 1.0) == [flat]


@given(batches=batches, reducer=reducers, first=st.integers(-1, 6), width=st.integers(0, 3))
def test_pane_rows_equal_the_merged_pairs_on_both(batches: list, reducer: Any, first: int,
                                                  width: int) -> None:
    from etlcore.eventtime import WindowResult

    got = []
    for impl in (REF, C):
        store = impl.PaneStore(reducer)
        for pane, pairs in enumerate(batches):
            store.fold([k for k, _v in pairs], [pane * 10 + 1] * len(pairs),
                       [v for _k, v in pairs], 10)
        rows = store.rows(first, first + width, WindowResult, 0.0, 1.0)
        assert same(rows, impl.rows(WindowResult, store.merge_range(first, first + width),
                                    0.0, 1.0))
        got.append(rows)
    assert same(got[0], got[1])


@given(recs=records, time=refs, key=st.one_of(st.none(), refs), value=st.one_of(st.none(), refs),
       cutoff=st.one_of(st.none(), st.integers(-10**12, 10**12)))
def test_fold_records_equals_columns_then_fold(recs: list, time: Any, key: Any, value: Any,
                                               cutoff: Any) -> None:
    for impl in (REF, C):
        got = impl.PaneStore("sum")
        try:
            keys, times, vals, late, top = impl.columns(recs, time, key, value, cutoff, _to_us)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            # a record that cannot be read raises before anything is folded
            with pytest.raises(type(err)):
                got.fold_records(recs, time, key, value, cutoff, 7, _to_us)
            assert got.panes() == []
            continue
        want = impl.PaneStore("sum")
        errors, answers = [], []
        try:
            want.fold(keys, times, vals, 7)
        except TypeError as err:  # an unhashable key or a value that does not add
            errors.append(type(err))
        try:
            answers.append(got.fold_records(recs, time, key, value, cutoff, 7, _to_us))
        except TypeError as err:
            errors.append(type(err))
        assert errors in ([], [TypeError, TypeError])
        if not errors:
            assert same(answers[0], (late, top))
            assert same(got.to_state(), want.to_state())


tuple_records = st.lists(st.tuples(
    st.one_of(st.floats(-1e4, 1e4), st.integers(-10**4, 10**4), st.just(1e300)),  # time
    st.one_of(st.integers(-5, 5), st.just(2**70), st.sampled_from(["a", "b"])),  # key
    st.one_of(st.integers(-9, 9), st.floats(-9, 9), st.none()),  # value
), max_size=40)


@given(recs=tuple_records, order=st.permutations([0, 1, 2]), negative=st.booleans(),
       cutoff=st.one_of(st.none(), st.integers(-10**10, 10**10)), width=st.integers(1, 10**7))
def test_fold_records_of_tuples_equals_the_reference(recs: list, order: list, negative: bool,
                                                     cutoff: Any, width: int) -> None:
    # tuples read by index (the kernel borrows their fields), with times in and beyond
    # int64 panes, keys that are int64, beyond it, or strs, and None values
    recs = [tuple(r[j] for j in order) for r in recs]
    time, key, value = (order.index(j) - (3 if negative else 0) for j in range(3))
    got = []
    for impl in (REF, C):
        store = impl.PaneStore("sum")
        answer = store.fold_records(recs, time, key, value, cutoff, width, _to_us)
        got.append((answer, store.to_state()))
    assert same(got[0], got[1])


@given(recs=st.lists(st.tuples(
           st.integers(0, 30),  # time
           st.one_of(st.integers(-3, 3), st.just(2**70), st.just("a")),  # key
           st.one_of(st.integers(-9, 9), st.floats(-9, 9), st.none(), st.just(2**70),
                     st.just(math.nan))),  # value: int64, float, None, beyond int64
       max_size=40), reducer=reducers)
def test_fold_records_with_every_reducer_equals_the_reference(recs: list, reducer: Any) -> None:
    # the kernel buffers each value unboxed (int64 or float bits) or as its object (anything
    # else, and every value of a callable reducer) before folding: every reducer sees the
    # values the reference folds
    got = []
    for impl in (REF, C):
        store = impl.PaneStore(reducer)
        try:
            answer = store.fold_records(recs, 0, 1, 2, None, 10, _to_us)
        except TypeError as err:  # a callable reducer that does not take None
            got.append(type(err))
            continue
        got.append((answer, store.to_state(), store.merge_range(0, 3)))
    assert same(got[0], got[1])


@given(windows=st.lists(st.one_of(int_pairs, any_pairs), min_size=1, max_size=6), reducer=reducers)
def test_tumbling_panes_emitted_and_dropped_match_the_reference(windows: list,
                                                                reducer: Any) -> None:
    """Panes made, emitted and dropped one after another, as a tumbling window does:
    the compiled store reuses a dropped int-key pane's arrays for the next pane."""
    from etlcore.eventtime import WindowResult

    def go(impl: ModuleType) -> list:
        store = impl.PaneStore(reducer)
        out = []
        for pane, data in enumerate(windows):
            store.fold([k for k, _v in data], [pane * 10 + 3] * len(data),
                       [v for _k, v in data], 10)
            out.append(store.rows(pane, pane, WindowResult, float(pane), pane + 1.0))
            store.drop_before(pane + 1)
            out.append(store.to_state())
        return out

    assert same(go(C), go(REF))


def test_a_reused_pane_starts_empty_at_every_key_count() -> None:
    """Growing, shrinking and switching key kinds across reused panes: no key or value
    of an earlier pane shows up in a later one."""
    from etlcore.eventtime import WindowResult

    stores = [impl.PaneStore("sum") for impl in (C, REF)]
    sizes = [5, 3000, 40, 3000, 2, 70_000, 10, 0, 500]
    for pane, n in enumerate(sizes):
        keys = [pane * 100_000 + i for i in range(n)] if pane != 4 else ["s", "t"]
        got = []
        for store in stores:
            store.fold(keys, [pane * 10] * n, [1.5] * n, 10)
            got.append(store.rows(pane, pane, WindowResult, 0.0, 1.0))
            store.drop_before(pane + 1)
        assert same(got[0], got[1])
        assert sorted(r.key for r in got[0]) == sorted(keys)


def test_a_reused_pane_sees_none_of_the_keys_it_held_before() -> None:
    """A reused pane's table is emptied without rewriting its cells (a new generation):
    the same keys in later panes, in another order and as a subset, start from nothing,
    and keys the table held before are absent, not found in a stale cell."""
    from etlcore.eventtime import WindowResult

    stores = [impl.PaneStore("sum") for impl in (C, REF)]
    every = list(range(0, 6000, 3))
    panes = [every, every[::-1], every[::2], every[1::2] + every[:5], every]
    for pane, keys in enumerate(panes):
        got = []
        for store in stores:
            store.fold(keys, [pane * 10] * len(keys), [float(pane + 1)] * len(keys), 10)
            got.append(store.rows(pane, pane, WindowResult, 0.0, 1.0))
            store.drop_before(pane + 1)
        assert same(got[0], got[1])
        assert sorted((r.key, r.value) for r in got[0]) == sorted(
            (k, float(pane + 1) * keys.count(k)) for k in set(keys))


def test_pane_rows_of_int_keys_and_numbers_leave_the_cyclic_gc_alone() -> None:
    import gc

    from etlcore.eventtime import WindowResult

    store = C.PaneStore("sum")
    store.fold([1, 2**40, 3], [0, 0, 0], [2.5, 1, 2**70], 10)
    rows = store.rows(0, 0, WindowResult, 0.0, 1.0)
    assert rows == [WindowResult(1, 0.0, 1.0, 2.5), WindowResult(2**40, 0.0, 1.0, 1),
                    WindowResult(3, 0.0, 1.0, 2**70)]
    assert not any(gc.is_tracked(r) for r in rows)
    nested = C.PaneStore(lambda a, b: [a, b])
    nested.fold([1, 1], [0, 0], [1, 2], 10)
    (row,) = nested.rows(0, 0, WindowResult, 0.0, 1.0)
    assert row.value == [1, 2] and gc.is_tracked(row)  # may be part of a cycle
    start = [0.0]  # a tracked window start keeps the rows tracked too
    (row,) = store.rows(0, 0, WindowResult, start, 1.0)[:1]
    assert gc.is_tracked(row)


def test_pane_rows_of_a_tuple_class_with_more_fields_are_whole() -> None:
    """A row class whose instances have a __dict__ is allocated as tuple.__new__ does."""

    class Loose(tuple):  # noqa: SLOT001 - a __dict__ on purpose
        pass

    store = C.PaneStore("sum")
    store.fold([7, 8], [0, 0], [1.5, 2.5], 10)
    rows = store.rows(0, 0, Loose, 0.0, 1.0)
    assert rows == [(7, 0.0, 1.0, 1.5), (8, 0.0, 1.0, 2.5)]
    assert all(type(r) is Loose and r.__dict__ == {} for r in rows)
    rows[0].note = "kept"
    assert rows[0].note == "kept"


@pytest.mark.parametrize("impl", [C, REF], ids=["c", "ref"])
def test_pane_rows_made_as_the_list_type_asked_for(impl: ModuleType) -> None:
    """``into``: the rows come as that list type (Records, to be handed on uncopied)."""
    from etlcore.eventtime import WindowResult
    from etlcore.records import Records

    class Loose(list):  # noqa: SLOT001 - a __dict__: not a list of the engine's shape
        pass

    store = impl.PaneStore("sum")
    store.fold([7, 8, 7, "s"], [0, 0, 0, 20], [1.5, 2.5, 1, 4], 10)
    for pane, want in ((0, [(7, 0.0, 1.0, 2.5), (8, 0.0, 1.0, 2.5)]),
                       (2, [("s", 0.0, 1.0, 4)]), (1, [])):
        rows = store.rows(pane, pane, WindowResult, 0.0, 1.0, Records)
        assert type(rows) is Records and rows == want
        assert type(store.rows(pane, pane, WindowResult, 0.0, 1.0)) is list
    merged = store.rows(0, 2, WindowResult, 0.0, 1.0, Records)
    assert type(merged) is Records and len(merged) == 3
    rows.append(1)  # an ordinary list from then on
    assert rows == [1]
    for bad in (tuple, Loose, "list"):
        with pytest.raises(TypeError, match="into"):
            store.rows(0, 0, WindowResult, 0.0, 1.0, bad)
