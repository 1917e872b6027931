"""Hypothesis strategies and a strict comparison for the kernel parity tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

INT64 = 2**63

#: ints across the int64 boundary, where the compiled kernels change representation
big_ints = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**70), 2**70),
    st.sampled_from([INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64, 2**200]),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalar_keys = st.one_of(
    st.integers(-50, 50),  # few distinct keys, so they repeat
    big_ints,
    st.text(max_size=6),
    st.sampled_from(["a", "b", "ü", "日本", "\U0001f600", "\ud800"]),
    st.binary(max_size=6),
    floats,
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 2.0**64]),
    st.none(),
    st.booleans(),
)
keys = st.one_of(scalar_keys, st.tuples(scalar_keys, scalar_keys))
#: int keys only: the compiled kernels' C-table fast path
int_keys = st.one_of(st.integers(-20, 20), big_ints)
values = st.one_of(
    st.none(),
    st.integers(-100, 100),
    big_ints,
    floats,
    st.sampled_from([0.5, -0.0, 1e308, -1e308]),
    st.booleans(),
)
numbers = st.one_of(st.integers(-100, 100), big_ints, floats)

pairs = st.lists(st.tuples(keys, values), max_size=40)
int_pairs = st.lists(st.tuples(int_keys, values), max_size=40)
batches = st.lists(st.one_of(pairs, int_pairs), max_size=5)


def pick_fn(a: Any, b: Any) -> Any:
    """A callable reducer whose result records the fold order."""
    return (a, b)


def add_or_none(a: Any, b: Any) -> Any:
    """A callable reducer that sees None values, as Spark's reduceByKey would."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


reducers = st.sampled_from(["sum", "count", "min", "max", "mean", pick_fn, add_or_none])


def same(a: Any, b: Any) -> bool:
    """Strict equality: same types, NaN equal to NaN, -0.0 distinct from 0.0."""
    return repr(a) == repr(b)
