"""The compact window row behaves as the WindowResult NamedTuple, on both implementations."""

from __future__ import annotations

import gc
import math
import pickle
import sys
import weakref
from types import ModuleType
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import IMPLS, load
from tests.fast.strategies import keys, reducers, same, values

ROW_C = load("winrow", "c").WindowRow
ROW_REF = load("winrow", "ref").WindowRow
ROWS = {"c": ROW_C, "ref": ROW_REF}


class WindowResult(NamedTuple):  # the public class until now
    """What the compact row must behave as (the NamedTuple WindowResult's shape)."""

    key: Any
    window_start: float
    window_end: float
    value: Any


@pytest.fixture(params=IMPLS)
def row_type(request: pytest.FixtureRequest) -> type:
    return ROWS[request.param]


def no_nan(v: Any) -> bool:
    # a NaN equals itself in a tuple only as the same object; rows box on access
    return not any(isinstance(x, float) and math.isnan(x)
                   for x in (v if isinstance(v, tuple) else (v,)))


bounds = st.one_of(st.floats(-1e12, 1e12), st.integers(-(10**6), 10**6))


@pytest.mark.parametrize("impl", IMPLS)
@given(key=keys, start=bounds, end=bounds, value=values)
def test_row_behaves_as_the_named_tuple(impl: str, key: Any, start: Any, end: Any,
                                        value: Any) -> None:
    row_type = ROWS[impl]
    row = row_type(key, start, end, value)
    want = WindowResult(key, float(start), float(end), value)
    assert same(row.key, key) and same(row.value, value)
    assert same(row.window_start, want.window_start) and same(row.window_end, want.window_end)
    assert len(row) == 4
    for i in range(-4, 4):
        assert same(row[i], want[i])
    for s in (slice(None), slice(1, 3), slice(None, None, -1), slice(-2, None)):
        assert same(row[s], want[s])
    with pytest.raises(IndexError):
        row[4]
    k, s0, e0, v = row
    assert same((k, s0, e0, v), tuple(want)) and same(list(row), list(want))
    assert repr(row) == repr(want)
    assert row._fields == WindowResult._fields and row.__match_args__ == WindowResult.__match_args__
    assert same(row._asdict(), dict(want._asdict()))
    assert same(tuple(row._replace(value="x", key=None)), tuple(want._replace(value="x", key=None)))
    with pytest.raises(ValueError, match="unexpected field"):
        row._replace(nope=1)
    assert same(tuple(row_type._make(want)), tuple(want))
    with pytest.raises(TypeError):
        row_type._make((1, 2.0))
    assert same(row + (1,), want + (1,)) and same((1,) + row, (1,) + want)
    if no_nan(key) and no_nan(value):
        plain = tuple(want)
        assert row == plain and plain == row and row == want
        assert not row != plain  # noqa: SIM202 - __ne__ itself, as tuple's
        assert row == row_type(key, start, end, value)
        assert hash(row) == hash(plain)
        assert {row: 1}[plain] == 1
        assert value in row and row.count(value) == plain.count(value)
        assert row.index(value) == plain.index(value)
        back = pickle.loads(pickle.dumps(row))
        assert back == row and same(tuple(back), tuple(want))
    assert row != (key, start, end) and row != [key, start, end, value]
    assert not isinstance(row, tuple)


def test_rows_order_as_tuples(row_type: type) -> None:
    """Ordering as NamedTuple's (tuple ordering), against tuples and other rows."""
    a, b = row_type(1, 0.0, 1.0, 5.0), row_type(1, 0.0, 1.0, 6)
    assert a < b and a <= b and b > a and b >= a and not a > b
    assert a < (1, 0.0, 1.0, 5.5) < b
    assert (2,) > a  # noqa: SIM300 - the tuple on the left: the reflected comparison
    assert sorted([b, a, (0, 9.0, 9.0, 0)]) == [(0, 9.0, 9.0, 0), a, b]
    with pytest.raises(TypeError):
        a < 3  # noqa: B015 - the comparison itself must raise


def test_row_is_immutable(row_type: type) -> None:
    row = row_type(1, 0.0, 1.0, 2.0)
    for name in WindowResult._fields:
        with pytest.raises(AttributeError):
            setattr(row, name, 3)
    with pytest.raises(TypeError, match="immutable"):
        row.__init__(7, 0.0, 1.0, "x")
    assert row == (1, 0.0, 1.0, 2.0)


def test_row_bounds_are_numbers(row_type: type) -> None:
    """Bounds are stored as floats (a C double): a str is refused on both."""
    assert type(row_type(1, 3, 4, 0).window_start) is float
    for bad in ("1.5", None, b"1"):
        with pytest.raises(TypeError):
            row_type(1, bad, 2.0, 0)


def test_compiled_row_is_one_small_object() -> None:
    """48 B, no GC header, whatever the key and value: the point of the type."""
    for key, value in ((7, 2.5), (7, -3), (2**70, 2**70), ("k", [1]), (True, None)):
        assert sys.getsizeof(ROW_C(key, 0.0, 1.0, value)) == 48
    assert not gc.is_tracked(ROW_C(1, 0.0, 1.0, 2.0))


def test_compiled_row_holds_and_frees_its_objects() -> None:
    """A key or value kept as an object lives as long as the row and no longer."""

    class Obj:
        pass

    key, value = Obj(), Obj()
    refs = (weakref.ref(key), weakref.ref(value))
    row = ROW_C(key, 0.0, 1.0, value)
    del key, value
    assert row.key is refs[0]() and row.value is refs[1]()
    del row
    assert refs[0]() is None and refs[1]() is None
    counted = 2**80  # an int beyond int64: held, not unboxed
    before = sys.getrefcount(counted)
    rows = [ROW_C(counted, 0.0, 1.0, counted) for _ in range(10)]
    assert sys.getrefcount(counted) == before + 20
    del rows
    assert sys.getrefcount(counted) == before


def test_kernel_built_rows_are_whole_and_hold_one_reference() -> None:
    """Rows the C kernels allocate themselves (no ``tp_new``): 48 B, untracked, one
    reference each (the list's), their held keys and values freed with them."""

    class Obj:
        pass

    key, value = Obj(), Obj()
    refs = (weakref.ref(key), weakref.ref(value))
    counted = 2**80  # held, not unboxed
    before = sys.getrefcount(counted)
    window = load("window", "c")
    store = window.PaneStore(lambda _old, new: new)  # keeps the value object
    store.fold([1, key, counted, 2], [0, 0, 0, 0], [2.5, value, counted, 7], 10)
    pairs = [(1, 2.5), (key, value), (counted, counted), (2, 7)]
    for rows in (store.rows(0, 0, ROW_C, 0.0, 1.0), window.rows(ROW_C, pairs, 0.0, 1.0)):
        assert rows == [(k, 0.0, 1.0, v) for k, v in pairs]
        assert all(sys.getsizeof(r) == 48 and not gc.is_tracked(r) for r in rows)
        assert [sys.getrefcount(r) for r in rows] == [3] * 4  # the list, r, the call
    del store, rows, pairs, key, value
    assert refs[0]() is None and refs[1]() is None
    assert sys.getrefcount(counted) == before


def test_kernel_built_rows_keep_their_shared_bounds_alive() -> None:
    """The rows of one window share one bounds object that only they hold: it must live
    as long as the last of them (freed early, the floats made next reuse its block)."""
    window = load("window", "c")
    store = window.PaneStore(lambda old, new: old + new)
    store.fold(list(range(500)), [0] * 500, [1.5] * 500, 10)
    emitted = [store.rows(0, 0, ROW_C, 10.0, 20.0),
               window.rows(ROW_C, [(k, 1.5) for k in range(500)], 10.0, 20.0)]
    del store
    for rows in emitted:
        keep = rows[-1:]
        del rows[:-1]
        junk = [float(i) + 0.25 for i in range(10_000)]  # reuses any freed 32 B block
        assert (keep[0].window_start, keep[0].window_end) == (10.0, 20.0)
        assert keep[0][1:3] == (10.0, 20.0) and keep[0] == (499, 10.0, 20.0, 1.5)
        del junk


def test_row_unpickles_as_the_selected_window_result() -> None:
    """A row shipped to another process comes back as that process's WindowResult."""
    from etlcore.eventtime import WindowResult as Selected

    for row_type in (ROW_C, ROW_REF):
        back = pickle.loads(pickle.dumps([row_type(3, 0.0, 1.0, 4.5)]))
        assert type(back[0]) is Selected and back == [(3, 0.0, 1.0, 4.5)]


# ---------------------------------------------------------------- kernels emitting rows


def store_rows(window: ModuleType, row_type: type, reducer: Any, batches: list,
               into: type = list) -> tuple[list, list]:
    """The same panes' rows as compact rows and as NamedTuples."""
    store = window.PaneStore(reducer)
    for pane, pairs in enumerate(batches):
        store.add(pane, pairs)
    last = max(len(batches) - 1, 0)
    got = [store.rows(p, p, row_type, p * 1.0, p + 1.0, into) for p in range(len(batches))]
    got.append(store.rows(0, last, row_type, 0.0, last + 1.0, into))
    want = [store.rows(p, p, WindowResult, p * 1.0, p + 1.0) for p in range(len(batches))]
    want.append(store.rows(0, last, WindowResult, 0.0, last + 1.0))
    return got, want


int_batches = st.lists(st.lists(st.tuples(st.one_of(st.integers(-20, 20),
                                                    st.integers(-(2**70), 2**70)), values),
                                max_size=30), max_size=4)


@pytest.mark.parametrize("impl", IMPLS)
@given(reducer=reducers, batches=st.one_of(int_batches, st.lists(
    st.lists(st.tuples(keys, values), max_size=30), max_size=4)))
def test_pane_rows_as_compact_rows_equal_the_tuple_rows(impl: str, reducer: Any,
                                                         batches: list) -> None:
    """Every reducer, int and any keys: compact rows hold what the tuple rows hold."""
    from etlcore.records import Records

    got, want = store_rows(load("window", impl), ROWS[impl], reducer, batches, Records)
    assert all(type(g) is Records for g in got)
    assert all(type(r) is ROWS[impl] for g in got for r in g)
    assert same([[tuple(r) for r in g] for g in got], [[tuple(r) for r in w] for w in want])


@given(reducer=reducers, batches=int_batches)
def test_compact_rows_agree_between_implementations(reducer: Any, batches: list) -> None:
    got_c, _ = store_rows(load("window", "c"), ROW_C, reducer, batches)
    got_ref, _ = store_rows(load("window", "ref"), ROW_REF, reducer, batches)
    assert same([[tuple(r) for r in g] for g in got_c], [[tuple(r) for r in g] for g in got_ref])


@pytest.mark.parametrize("impl", IMPLS)
def test_rows_function_makes_compact_rows(impl: str) -> None:
    rows = load("window", impl).rows(ROWS[impl], [(1, 2.5), ("a", None)], 0.0, 1.0)
    assert [type(r) for r in rows] == [ROWS[impl]] * 2
    assert rows == [(1, 0.0, 1.0, 2.5), ("a", 0.0, 1.0, None)]


def test_compiled_kernel_refuses_the_pure_row() -> None:
    """The C store builds only its own compact row (or tuple subclasses)."""
    store = load("window", "c").PaneStore("sum")
    store.add(0, [(1, 2)])
    with pytest.raises(TypeError, match="tuple subclass"):
        store.rows(0, 0, ROW_REF, 0.0, 1.0)
