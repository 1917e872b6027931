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


# -- process_records: the kernel reads (time, key, value) fields itself -------------------

US = 1_000_000


def to_us(t: Any) -> int:
    from etlcore.eventtime.base import to_us as convert

    return convert(t)


#: exact int keys (the C table), some past int64 (they move the index to a dict), and keys
#: equal across types (1 == 1.0 == True) or unhashable, which need Python's dict or fail
int_record_keys = st.one_of(st.integers(-3, 3), st.sampled_from([2**62, -(2**63), 2**63]))
other_record_keys = st.sampled_from([1, 1.0, True, "a", None, (1, "x"), 2, [1]])
record_times = st.one_of(
    st.integers(-50, 200),
    st.floats(-50, 200, allow_nan=False),
    st.sampled_from([10**30, -(10**30), float("nan"), "x"]),  # odd times: the batch raises
)


@st.composite
def record_batches(draw: Any) -> list[list[Any]]:
    keys = draw(st.sampled_from([int_record_keys, st.one_of(int_record_keys, other_record_keys)]))
    rec = st.one_of(st.tuples(record_times, keys, values),
                    st.tuples(st.integers(0, 150), keys))  # no value: IndexError
    plain = st.tuples(st.integers(-50, 200), st.integers(-3, 3), st.integers(-5, 5))
    batch = st.lists(st.one_of(plain, plain, rec), max_size=12)
    return draw(st.lists(batch, max_size=6))


@given(batches=record_batches(), gap=st.integers(1, 30), reducer=reducers,
       update=st.booleans(), result=st.sampled_from([None, Row]),
       wms=st.lists(st.one_of(st.none(), st.integers(-60, 260)), min_size=6, max_size=6))
def test_process_records_agrees_with_the_reference(batches: list, gap: int, reducer: Any,
                                                   update: bool, result: Any,
                                                   wms: list) -> None:
    stores = [REF.SessionStore(gap * US, reducer), C.SessionStore(gap * US, reducer)]
    for batch, wm in zip(batches, wms, strict=False):
        wm_us = None if wm is None else wm * US
        cutoff = None if wm is None else wm_us - gap * US + 1  # as the session node's
        outs = []
        for store in stores:
            before = store.to_state()
            try:
                outs.append(store.process_records(batch, 0, 1, 2, cutoff, wm_us, update,
                                                  result, to_us))
            except Exception as err:  # noqa: BLE001 - compared below
                outs.append(type(err))
                assert same(store.to_state(), before)  # nothing of the batch was applied
        assert same(outs[0], outs[1])
        assert len(stores[0]) == len(stores[1])
    assert same(stores[0].to_state(), stores[1].to_state())


def test_records_fold_as_their_columns_do(session: ModuleType) -> None:
    recs = [(0.0, 7, 1), (5.0, 7, 2), (100.0, 8, 3), (22.0, 7, 4), (14.0, 7, 10)]
    by_records = session.SessionStore(10 * US, "sum")
    by_columns = session.SessionStore(10 * US, "sum")
    got = by_records.process_records(recs, 0, 1, 2, None, None, False, None, to_us)
    assert got == ([], [], 100 * US)
    by_columns.process([7, 7, 8, 7, 7], [0, 5 * US, 100 * US, 22 * US, 14 * US],
                       [1, 2, 3, 4, 10], None, False)
    assert by_records.to_state() == by_columns.to_state()
    # 14 bridged 7's sessions [0, 5] and [22]: one session of 4 events
    assert by_records.to_state()[1][0] == (7, [(0, 22 * US, 4, 17)])


def test_a_late_event_bridges_two_open_sessions(session: ModuleType) -> None:
    store = session.SessionStore(10 * US, "count")
    store.process_records([(10, 5, None), (28, 5, None)], 0, 1, None, None, None, True, None,
                          to_us)
    # at watermark 20 (cutoff 11) 19 is on time (and joins both sessions), 3 is late
    rows, late, top = store.process_records([(19, 5, None), (3, 5, None)], 0, 1, None,
                                            11 * US, 20 * US, True, None, to_us)
    assert late == [1] and top == 19 * US
    assert rows == [(5, 10 * US, 28 * US, 3, 3)] and len(store) == 1


def test_watermark_expires_int_key_sessions_and_the_key_comes_back(session: ModuleType) -> None:
    store = session.SessionStore(2 * US, "count")
    store.process_records([(t, k) for t in range(3) for k in range(100)], 0, 1, None, None,
                          None, False, None, to_us)
    rows, _late, _top = store.process_records([(10, 3)], 0, 1, None, None, 9 * US, False, None,
                                              to_us)
    assert [r[0] for r in rows] == list(range(100)) and len(store) == 1
    # every key but 3 finished and was forgotten: they come back as new keys, seen after 3
    store.process_records([(20, k) for k in range(100)], 0, 1, None, None, None, False, None,
                          to_us)
    rows = store.process([], [], [], 10**9, False)
    assert [(r[0], r[1] // US, r[4]) for r in rows] == [(3, 10, 1), (3, 20, 1)] + [
        (k, 20, 1) for k in range(100) if k != 3]


def test_int_keys_then_equal_keys_of_other_types_share_sessions(session: ModuleType) -> None:
    store = session.SessionStore(5 * US, "count")
    store.process_records([(0, 1), (1, 2)], 0, 1, None, None, None, False, None, to_us)
    store.process_records([(2, 1.0), (3, True), (4, "a")], 0, 1, None, None, None, False, None,
                          to_us)
    assert store.process([], [], [], 10**9, False) == [
        (1, 0, 3 * US, 3, 3), (2, 1 * US, 1 * US, 1, 1), ("a", 4 * US, 4 * US, 1, 1)]


def test_a_bad_record_leaves_the_store_untouched(session: ModuleType) -> None:
    store = session.SessionStore(5 * US, "count")
    store.process_records([(0, 1)], 0, 1, None, None, None, False, None, to_us)
    before = store.to_state()
    for bad in ([(1, 1), (2,)], [(1, 1), ("x", 1)], [(1, 1), (2, [1])], [(1, 1), (10**30, 1)]):
        with pytest.raises((IndexError, TypeError, OverflowError)):
            store.process_records(bad, 0, 1, None, None, None, False, None, to_us)
        assert store.to_state() == before


def test_dict_records_and_many_int_keys(session: ModuleType) -> None:
    # enough keys to grow the C table several times; dict records read by str keys
    recs = [{"ts": i % 7, "user": (i * 7919) % 5000} for i in range(20000)]
    store = session.SessionStore(1 * US, "count")
    rows, late, top = store.process_records(recs, "ts", "user", None, 3 * US, 10**9, False,
                                            None, to_us)
    assert len(late) == sum(1 for r in recs if r["ts"] < 3) and top == 6 * US
    assert sum(r[4] for r in rows) == 20000 - len(late) and len(store) == 0
    assert len({r[0] for r in rows}) == 5000


def test_finished_int_keys_return_after_many_others_finished(session: ModuleType) -> None:
    # 3,000 keys finish (the compiled kernel keeps some finished keys' slots, then forgets
    # them); every key then returns and is a new key, seen in its new order
    store = session.SessionStore(1 * US, "count")
    store.process_records([(0, k) for k in range(3000)], 0, 1, None, None, None, False, None,
                          to_us)
    rows, _late, _top = store.process_records([], 0, 1, None, None, 2 * US, False, None, to_us)
    assert [r[0] for r in rows] == list(range(3000)) and len(store) == 0
    store.process_records([(5, 2999 - k) for k in range(3000)], 0, 1, None, None, None, False,
                          None, to_us)
    assert len(store) == 3000
    rows = store.process([], [], [], 10 * US, False)
    assert [r[0] for r in rows] == [2999 - k for k in range(3000)] and len(store) == 0
    assert store.to_state() == (1, [])


@pytest.mark.parametrize("reducer", ["sum", "mean", "min", pick_fn])
def test_many_sessions_of_a_key_finish_in_one_step_as_in_the_reference(reducer: Any) -> None:
    # 300 sessions per key (gap 5, events 10 apart) finish at one watermark, some bridged
    # first: every finished session's row, then its aggregate dropped while the session
    # table's HashAgg compacts (most of its slots dead), and what is left goes on equally
    gap = 5
    keys = [k for t in range(0, 3000, 10) for k in ("a", "b", 7)]
    times = [t for t in range(0, 3000, 10) for _ in range(3)]
    values = [(i * 37) % 101 - 50 for i in range(len(keys))]
    stores = [REF.SessionStore(gap, reducer), C.SessionStore(gap, reducer)]
    outs = [s.process(keys, times, values, None, False) for s in stores]
    bridges = ([7, "a"] * 20, [t + 5 for t in range(1000, 1400, 10)], list(range(40)))
    outs += [s.process(*bridges, 2000, False) for s in stores]
    assert len(outs[2]) > 150 and same(outs[2], outs[3])
    assert len(stores[0]) == len(stores[1]) and same(stores[0].to_state(), stores[1].to_state())
    rest = [s.process([], [], [], 10**6, False) for s in stores]
    assert same(rest[0], rest[1]) and len(stores[0]) == len(stores[1]) == 0
