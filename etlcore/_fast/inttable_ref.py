"""Plain-Python twin of ``inttable_c.IntMap``: int64 keys -> non-negative indexes in a dict."""

from __future__ import annotations

from operator import index

__all__ = ["IntMap"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _key(key: object) -> int:
    k = index(key)  # type: ignore[arg-type]
    if not _INT64_MIN <= k <= _INT64_MAX:
        raise OverflowError(f"IntMap: key {k} does not fit int64")
    return k


def _index(value: object) -> int:
    v = _key(value)
    if v < 0:
        raise ValueError(f"IntMap: an index must be >= 0, not {v}")
    return v


class IntMap:
    """int64 keys -> non-negative int64 indexes (an int beyond int64 raises OverflowError)."""

    def __init__(self, size_hint: int = 0) -> None:
        self._d: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return _key(key) in self._d

    def __getitem__(self, key: object) -> int:
        return self._d[_key(key)]

    def get(self, key: object, default: object = None) -> object:
        return self._d.get(_key(key), default)

    def __setitem__(self, key: object, value: object) -> None:
        self._d[_key(key)] = _index(value)

    def setdefault(self, key: object, value: object) -> int:
        """The index held for ``key``, storing ``value`` first if there is none."""
        return self._d.setdefault(_key(key), _index(value))

    def pop(self, key: object) -> int:
        return self._d.pop(_key(key))

    def items(self) -> list[tuple[int, int]]:
        """``(key, index)`` pairs (callers sort: the C table's order is its own)."""
        return list(self._d.items())

    def compact(self) -> None:
        """Nothing to compact in a dict."""

    @property
    def capacity(self) -> int:
        return len(self._d)
