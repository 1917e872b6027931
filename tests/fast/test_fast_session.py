"""Session kernel: semantics on both implementations, an oracle, then parity."""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import load
from tests.fast.strategies import pick_fn, reducers, same, values

REF = load("session", "ref")
C = load("session", "c")


def test_events_join_start_and_bridge_sessions(session: ModuleType) -> None:
    store = session.SessionStore(10, "sum")
    # a: [0, 5] and [22, 22]; b: [100, 100]
    assert store.process(["a", "a", "b", "a"], [0, 5, 100, 22], [1, 2, 3, 4], None, False) == []
    assert len(store) == 3
    # 14 is within 10 of both a-sessions (5 and 22): they merge into [0, 22]
    assert store.process(["a"], [14], [10], None, False) == []
    assert len(store) == 2
    # watermark 40: a's session (last 22 + gap 10 <= 40) is final; b is not
    assert store.process([], [], [], 40, False) == [("a", 0, 22, 17, 4)]
    assert len(store) == 1
    # a later event of a starts a new session; at 105 only it is final (b's needs 110)
    assert store.process(["a"], [45], [1], 105, False) == [("a", 45, 45, 1, 1)]
    assert store.process([], [], [], 10**6, False) == [("b", 100, 100, 3, 1)]
    assert len(store) == 0


def test_gap_is_inclusive_and_events_may_arrive_out_of_order(session: ModuleType) -> None:
    store = session.SessionStore(10, "count")
    store.process(["k", "k", "k"], [20, 10, 0], [None] * 3, None, False)  # 0..20, gaps of 10
    store.process(["k"], [31], [None], None, False)  # 11 after 20: a new session
    assert store.process([], [], [], 10**6, False) == [("k", 0, 20, 3, 3), ("k", 31, 31, 1, 1)]


def test_update_mode_emits_changed_sessions_and_drops_finished_ones(session: ModuleType) -> None:
    store = session.SessionStore(5, "count")
    assert store.process(["u", "u", "v"], [1, 10, 2], [0, 0, 0], None, True) == [
        ("u", 1, 1, 1, 1), ("v", 2, 2, 1, 1), ("u", 10, 10, 1, 1)]
    # 5 bridges u's two sessions; v is unchanged, so not emitted
    assert store.process(["u"], [5], [0], None, True) == [("u", 1, 10, 3, 3)]
    assert store.process([], [], [], 100, True) == [] and len(store) == 0


def test_rows_sort_by_window_then_key_first_seen(session: ModuleType) -> None:
    store = session.SessionStore(3, "count")
    store.process(["w", "z", "y", "x", "w"], [5, 5, 5, 1, 7], [0] * 5, None, False)
    assert store.process([], [], [], 100, False) == [
        ("x", 1, 1, 1, 1), ("z", 5, 5, 1, 1), ("y", 5, 5, 1, 1), ("w", 5, 7, 2, 2)]


def test_state_round_trip_continues_the_same_sessions(session: ModuleType) -> None:
    store = session.SessionStore(10, "mean")
    store.process(["a", "a", "b"], [0, 4, 50], [1, 2, 7], None, False)
    state = store.to_state()
    assert state == (1, [("a", [(0, 4, 2, (3, 2))]), ("b", [(50, 50, 1, (7, 1))])])
    again = session.SessionStore.from_state(10, "mean", state)
    assert len(again) == 2
    again.process(["a"], [12], [6], None, False)
    assert again.process([], [], [], 1000, False) == [("a", 0, 12, 3.0, 3), ("b", 50, 50, 7.0, 1)]


def test_bad_input_is_refused(session: ModuleType) -> None:
    with pytest.raises(ValueError, match="gap"):
        session.SessionStore(0, "sum")
    with pytest.raises(ValueError, match="unknown reducer"):
        session.SessionStore(5, "median")
    store = session.SessionStore(5, "sum")
    with pytest.raises(ValueError, match="differ in length"):
        store.process(["a"], [1, 2], [0], None, False)
    with pytest.raises(OverflowError):
        store.process(["a"], [2**63], [0], None, False)
    with pytest.raises(ValueError, match="unsupported SessionStore state"):
        session.SessionStore.from_state(5, "sum", (99, []))


def oracle(events: list[tuple[Any, int]], gap: int) -> list[tuple[Any, int, int, int]]:
    """Every key's sessions from all of its events at once: (key, start, last, count)."""
    by_key: dict[Any, list[list[int]]] = {}
    for key, t in sorted(events, key=lambda e: e[1]):
        runs = by_key.setdefault(key, [])
        if runs and t <= runs[-1][1] + gap:
            runs[-1][1] = t
            runs[-1][2] += 1
        else:
            runs.append([t, t, 1])
    return sorted(((k, s, e, n) for k, runs in by_key.items() for s, e, n in runs), key=repr)


small_keys = st.sampled_from(["a", "b", "c", 1, 2, (1, "x")])
times = st.integers(-50, 200)
event = st.tuples(small_keys, times, values)
batches = st.lists(st.lists(event, max_size=12), max_size=6)


@given(batches=batches, gap=st.integers(1, 30))
def test_sessions_equal_the_from_scratch_oracle(batches: list, gap: int) -> None:
    # no watermark until the end: every event counts, whatever batch it came in
    for impl in (REF, C):
        store = impl.SessionStore(gap, "count")
        for batch in batches:
            assert store.process(*_columns(batch), None, False) == []
        rows = store.process([], [], [], 10**6, False)
        got = sorted(((k, s, e, n) for k, s, e, _v, n in rows), key=repr)
        assert got == oracle([(k, t) for batch in batches for k, t, _v in batch], gap)
        assert [r[3] for r in rows] == [r[4] for r in rows]  # count's value is the count


def _columns(batch: list) -> tuple[list, list, list]:
    return [k for k, _t, _v in batch], [t for _k, t, _v in batch], [v for _k, _t, v in batch]


class Row(NamedTuple):
    key: Any
    start: float
    end: float
    value: Any
    count: int


def test_rows_as_result_objects_in_seconds(session: ModuleType) -> None:
    store = session.SessionStore(2_000_000, "count")
    store.process(["a", "a"], [1_500_000, 2_000_000], [0, 0], None, False)
    assert store.process([], [], [], 10**9, False, Row) == [Row("a", 1.5, 4.0, 2, 2)]


@given(batches=batches, gap=st.integers(1, 30), reducer=reducers, update=st.booleans(),
       wms=st.lists(st.one_of(st.none(), st.integers(-60, 260)), min_size=6, max_size=6),
       restore_at=st.integers(0, 6), result=st.sampled_from([None, Row]))
def test_compiled_and_reference_agree(batches: list, gap: int, reducer: Any, update: bool,
                                      wms: list, restore_at: int, result: Any) -> None:
    stores = [REF.SessionStore(gap, reducer), C.SessionStore(gap, reducer)]
    for i, batch in enumerate(batches):
        if i == restore_at:  # a checkpoint restored into the other implementation
            ref_state, c_state = (s.to_state() for s in stores)
            assert same(ref_state, c_state)
            stores = [REF.SessionStore.from_state(gap, reducer, c_state),
                      C.SessionStore.from_state(gap, reducer, ref_state)]
        outs = [s.process(*_columns(batch), wms[i], update, result) for s in stores]
        assert same(outs[0], outs[1])
        assert len(stores[0]) == len(stores[1])
    assert same(stores[0].to_state(), stores[1].to_state())


def test_callable_reducer_folds_in_arrival_order_and_merges_later_into_earlier(
        session: ModuleType) -> None:
    store = session.SessionStore(15, pick_fn)
    store.process(["k", "k", "k"], [0, 30, 15], ["a", "b", "c"], None, False)
    # 15 joins [0] (fold: ("a", "c")), then bridges to [30] (merge: (("a", "c"), "b"))
    assert store.process([], [], [], 100, False) == [("k", 0, 30, (("a", "c"), "b"), 3)]
