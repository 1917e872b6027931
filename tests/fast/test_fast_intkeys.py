"""HashAgg's int-key table (inttable.pxd: keys held as int64, boxed on emit) against the twins."""

from __future__ import annotations

import gc
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import load
from tests.fast.strategies import reducers, same, values

HREF, HC = load("hashagg", "ref"), load("hashagg", "c")
WREF, WC = load("window", "ref"), load("window", "c")
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

int64_keys = st.one_of(
    st.integers(-30, 30),
    st.sampled_from([I64_MIN, I64_MIN + 1, I64_MAX, I64_MAX - 1, -(2**32), 2**32]),
    st.integers(I64_MIN, I64_MAX),
)
#: keys that push the table out of int mode: beyond int64, bool, float equal to an int, str
other_keys = st.sampled_from([I64_MAX + 1, I64_MIN - 1, True, 3.0, -0.0, "3", (1, 2), None])


def keyed(agg: Any) -> list:
    return [(type(k).__name__, k, v) for k, v in agg.partials()]


@given(st.lists(st.tuples(int64_keys, values), max_size=60), reducers)
def test_int64_keys_parity(data: list, reducer: Any) -> None:
    c, ref = HC.HashAgg(reducer), HREF.HashAgg(reducer)
    c.add_pairs(data)
    ref.add_pairs(data)
    assert same(c.results(), ref.results())
    assert [type(k) for k, _ in c.results()] == [int] * len(c)
    assert same(HC.HashAgg.from_state(reducer, ref.to_state()).partials(), ref.partials())


@given(st.lists(st.tuples(int64_keys, values), max_size=40), other_keys, st.integers(0, 40),
       reducers)
def test_a_non_int_key_falls_back_to_the_generic_table(data: list, odd: Any, at: int,
                                                       reducer: Any) -> None:
    data = data[:at] + [(odd, 1)] + data[at:] + [(k, 2) for k, _ in data[:5]]
    c, ref = HC.HashAgg(reducer), HREF.HashAgg(reducer)
    half = len(data) // 2
    for agg in (c, ref):  # in two calls: the switch may come between them
        agg.add_pairs(data[:half])
        agg.add_pairs(data[half:])
    assert same(keyed(c), keyed(ref))


def test_keys_sharing_a_table_tag_are_kept_apart() -> None:
    # keys equal in their low 32 bits share the C cell's tag; panes recycle their tables
    keys = [5 + j * 2**32 for j in range(-300, 300)] + [5, 5 + 2**33]
    data = [(k, float(i % 7)) for i, k in enumerate(keys)] + [(k, 0.5) for k in keys[::5]]
    c = HC.HashAgg("sum")
    c.add_pairs(data)
    assert same(c.results(), HREF.combine(data, "sum"))
    store, ref = WC.PaneStore("sum"), WREF.PaneStore("sum")
    for pane in range(3):  # a dropped pane's table serves the next one (fold recycles it)
        part = data[pane::2]
        for s in (store, ref):
            s.fold([k for k, _ in part], [pane * 10] * len(part), [v for _, v in part], 10)
            s.drop_before(pane)
        assert same(store.merge_range(pane, pane), ref.merge_range(pane, pane))


def test_growth_and_rehash_keep_first_seen_order() -> None:
    keys = [(i * 2654435761) % (2**61) - 2**60 for i in range(60_000)]  # both signs, scattered
    data = [(k, 1.5) for k in keys] + [(k, 0.25) for k in keys[::7]]
    c = HC.HashAgg("sum")
    c.add_pairs(data)
    assert same(c.results(), HREF.combine(data, "sum"))
    merged = HC.merge([c.partials(), HC.combine(data[:1000], "sum")], "sum")
    assert same(merged, HREF.merge([HREF.combine(data, "sum"), HREF.combine(data[:1000], "sum")],
                                   "sum"))


def test_int_keys_are_not_kept_alive() -> None:
    keys = [10**9 + i for i in range(1000)]
    before = [sys.getrefcount(k) for k in keys]
    agg = HC.HashAgg("sum")
    agg.add_pairs([(k, 1) for k in keys])
    gc.collect()
    assert [sys.getrefcount(k) for k in keys] == before
    assert agg.results() == [(k, 1) for k in keys]


@given(st.integers(1, 3), st.sampled_from(["sum", "count", "mean", "min"]),
       st.lists(st.lists(st.tuples(st.integers(-150, 150), st.integers(-5, 5)), max_size=90),
                max_size=8))
def test_window_expiry_deletes_int_keys_like_the_reference(size: int, reducer: str,
                                                           panes: list) -> None:
    c, ref = WC.SlidingWindow(size, reducer), WREF.SlidingWindow(size, reducer)
    for pane in panes:  # keys leave as panes expire: tombstones, compaction, re-entry
        c.push(pane)
        ref.push(pane)
        assert same(c.result(), ref.result())
        assert len(c) == len(ref)
        assert same(c.to_state(), ref.to_state())


def test_expiry_churn_over_many_keys() -> None:
    c, ref = WC.SlidingWindow(2, "sum"), WREF.SlidingWindow(2, "sum")
    for p in range(12):
        pane = [(p * 5000 + k - 30_000, k % 7) for k in range(6000)]
        c.push(pane)
        ref.push(pane)
    assert same(c.result(), ref.result())
    restored = WC.SlidingWindow.from_state(2, "sum", None, ref.to_state())
    assert same(restored.result(), ref.result())


@given(st.lists(st.tuples(st.integers(0, 200), st.sampled_from([1, 2.5, -3])), min_size=1,
                max_size=80),
       st.sampled_from([10**30, "s", None, float("nan")]), st.integers(0, 80), reducers)
def test_a_python_accumulator_arriving_late_matches_the_reference(
        data: list, odd: Any, at: int, reducer: Any) -> None:
    # numeric accumulators hold no Python object per key; the first one that must
    # (an int beyond int64, a str, ...) arrives after many slots exist, then slots are
    # discarded and compacted by a sliding window
    at = min(at, len(data))
    data = data[:at] + [(data[-1][0] + 1, odd)] + data[at:] + [(k, 1) for k, _ in data[:9]]
    got = []
    for mod in (HC, HREF):
        agg = mod.HashAgg(reducer)
        try:
            agg.add_pairs(data)
            got.append(agg.partials())
        except TypeError as err:  # str + int: both raise
            got.append(type(err))
    assert same(got[0], got[1])
    panes = [data[i:i + 7] for i in range(0, len(data), 7)]
    got = []
    for mod in (WC, WREF):
        window = mod.SlidingWindow(2, reducer)
        try:
            out = []
            for pane in panes:
                window.push(pane)
                out.append(window.result())
            got.append((out, window.to_state()))
        except TypeError as err:
            got.append(type(err))
    assert same(got[0], got[1])
