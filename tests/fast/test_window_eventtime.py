"""Event-time kernels (``event_times_us``, ``PaneStore.fold``): the compiled twin equals the reference."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etlcore.eventtime.base import to_us
from tests.fast.conftest import load
from tests.fast.strategies import big_ints, int_keys, keys, reducers, same, values

REF = load("window", "ref")
C = load("window", "c")

times = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e13, 1e13),  # around the C fast path's limits
    st.integers(-(10**13), 10**13),
    big_ints,
    st.sampled_from([0.5e-6, -0.5e-6, 1.5e-6, 2.5e-6, 0.3, 1.7e9 + 0.25, 9.2e12, -9.2e12, True]),
    st.datetimes(timezones=st.just(timezone.utc)),
    st.text(max_size=2),
)


def outcome(mod: Any, ts: list[Any], cutoff: int | None) -> Any:
    try:
        return mod.event_times_us(ts, cutoff, to_us)
    except Exception as err:  # noqa: BLE001 - the error is part of the contract
        return type(err), str(err)


@given(st.lists(times, max_size=20), st.one_of(st.none(), st.integers(-(10**19), 10**19)))
def test_event_times_parity(ts: list[Any], cutoff: int | None) -> None:
    got = outcome(C, ts, cutoff)
    assert got == outcome(REF, ts, cutoff)
    if not isinstance(got[0], type):  # no error: the careful conversion, record by record
        us, late, top = got
        assert us == [to_us(t) for t in ts]
        assert late == [i for i, t in enumerate(us) if cutoff is not None and t < cutoff]
        assert top == max((t for i, t in enumerate(us) if i not in late), default=None)


def test_event_times_examples(window: Any) -> None:
    dt = datetime(2024, 1, 1, tzinfo=timezone.utc)
    us, late, top = window.event_times_us([0.3, 2, dt, 2.5e-6, -0.5e-6], 1, to_us)
    assert us == [300_000, 2_000_000, round(dt.timestamp() * 1e6), 2, 0]
    assert late == [4] and top == us[2]
    assert window.event_times_us([], None, to_us) == ([], [], None)
    with pytest.raises(ValueError, match="finite"):
        window.event_times_us([1.0, float("nan")], None, to_us)
    with pytest.raises(TypeError, match="event time"):
        window.event_times_us([False], None, to_us)


columns = st.lists(
    st.tuples(st.one_of(keys, int_keys), st.one_of(st.integers(-(10**7), 10**7), big_ints), values),
    max_size=40,
)


def folded(mod: Any, reducer: Any, batches: list[list], pane_us: int) -> Any:
    store = mod.PaneStore(reducer)
    for rows in batches:
        try:
            store.fold([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], pane_us)
        except Exception as err:  # noqa: BLE001
            return type(err)
    return store.to_state(), store.panes()


def added(mod: Any, reducer: Any, batches: list[list], pane_us: int) -> Any:
    """What fold promises: each record in pane ``time // pane_us``, in arrival order."""
    store = mod.PaneStore(reducer)
    for rows in batches:
        by_pane: dict[int, list] = {}
        for key, t, value in rows:
            by_pane.setdefault(t // pane_us, []).append((key, value))
        try:
            for pane, pairs in by_pane.items():
                store.add(pane, pairs)
        except Exception as err:  # noqa: BLE001
            return type(err)
    return store.to_state(), store.panes()


@given(reducers, st.lists(columns, max_size=4), st.sampled_from([1, 7, 1_000_000]))
def test_fold_parity(reducer: Any, batches: list[list], pane_us: int) -> None:
    want = added(REF, reducer, batches, pane_us)
    assert same(folded(C, reducer, batches, pane_us), want)
    assert same(folded(REF, reducer, batches, pane_us), want)


def test_fold_errors(window: Any) -> None:
    store = window.PaneStore("sum")
    with pytest.raises(ValueError, match="differ in length"):
        store.fold([1], [1, 2], [1], 10)
    with pytest.raises(ValueError, match="positive"):
        store.fold([1], [1], [1], 0)
    store.fold(["a", "a", "b"], [-1, 5, 15], [1, 2, 3], 10)
    assert store.panes() == [-1, 0, 1] and store.merge_range(-1, 1) == [("a", 3), ("b", 3)]
