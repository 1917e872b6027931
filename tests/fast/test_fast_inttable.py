"""The C int64 -> index table (``inttable.pxd``) against its dict twin."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import IMPLS, load

REF = load("inttable", "ref")
C = load("inttable", "c")
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

int64s = st.one_of(
    st.integers(-40, 40),
    st.sampled_from([I64_MIN, I64_MIN + 1, I64_MAX, I64_MAX - 1, 0, -1, 2**32, -(2**32)]),
    st.integers(I64_MIN, I64_MAX),
)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), int64s, st.integers(0, 2**63 - 1)),
        st.tuples(st.just("setdefault"), int64s, st.integers(0, 1000)),
        st.tuples(st.just("pop"), int64s),
        st.tuples(st.just("get"), int64s),
        st.tuples(st.just("compact"),),
    ),
    max_size=120,
)


@pytest.fixture(params=IMPLS)
def inttable(request: pytest.FixtureRequest) -> ModuleType:
    return load("inttable", request.param)


def run(mod: ModuleType, script: list) -> tuple[list, list]:
    m = mod.IntMap()
    seen = []
    for op, *args in script:
        if op == "set":
            m[args[0]] = args[1]
        elif op == "setdefault":
            seen.append(m.setdefault(*args))
        elif op == "pop":
            try:
                seen.append(m.pop(args[0]))
            except KeyError:
                seen.append("missing")
        elif op == "get":
            seen.append((m.get(args[0]), args[0] in m))
        else:
            m.compact()
        seen.append(len(m))
    return seen, sorted(m.items())


@given(ops)
def test_parity_with_dict_twin(script: list) -> None:
    assert run(C, script) == run(REF, script)


def test_int64_extremes_and_negative_keys(inttable: ModuleType) -> None:
    m = inttable.IntMap()
    for i, k in enumerate([I64_MIN, I64_MAX, -1, 0, 1, -(2**40)]):
        assert m.setdefault(k, i) == i
    assert [m[k] for k in (I64_MIN, I64_MAX, -1, 0, 1, -(2**40))] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(OverflowError):
        m[2**63] = 1
    with pytest.raises(OverflowError):
        m.get(I64_MIN - 1)
    with pytest.raises(ValueError, match="index must be >= 0"):
        m[5] = -1


def test_growth_deletion_and_tombstone_reuse(inttable: ModuleType) -> None:
    m = inttable.IntMap()
    n = 5000
    for k in range(-n, n):  # sequential keys, both signs: many rebuilds
        m[k * 7919] = k + n
    assert len(m) == 2 * n
    for k in range(-n, n, 2):
        assert m.pop(k * 7919) == k + n
    assert len(m) == n
    for k in range(-n, n):
        assert m.get(k * 7919) == (None if k % 2 == 0 else k + n)
    # churn (a window's keys expiring and new ones arriving) stays bounded by the live keys
    for round_ in range(20):
        for k in range(1000):
            m[10**9 + round_ * 1000 + k] = k
        for k in range(1000):
            assert m.pop(10**9 + round_ * 1000 + k) == k
    assert len(m) == n
    if inttable is C:
        assert m.capacity <= 4 * 2 * n  # tombstones were recycled by rebuilds
        m.compact()
        assert m.capacity == 16384  # n live at load <= 1/2
    assert sorted(m.items()) == sorted((k * 7919, k + n) for k in range(-n + 1, n, 2))


def test_keys_sharing_a_tag_stay_apart(inttable: ModuleType) -> None:
    # the C cells hold 32 bits of k * 2**64/phi: keys equal in their low 32 bits share it,
    # so every match has to be confirmed against the key itself
    keys = [7 + j * 2**32 for j in range(-60, 60)]
    m = inttable.IntMap()
    for i, k in enumerate(keys):
        assert m.setdefault(k, i) == i
    for k in keys[::3]:
        m.pop(k)
    for i, k in enumerate(keys):
        assert m.get(k) == (None if i % 3 == 0 else i)
    assert 7 + 61 * 2**32 not in m
    for i, k in enumerate(keys[::3]):  # back into the tombstones, among their namesakes
        m[k] = 1000 + i
    assert sorted(m.items()) == sorted(
        [(k, i) for i, k in enumerate(keys) if i % 3] + [(k, 1000 + i) for i, k in enumerate(keys[::3])])
