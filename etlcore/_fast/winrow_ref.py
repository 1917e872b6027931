"""Pure-Python twin of ``winrow_c.WindowRow``: the compact window row's behaviour.

The compiled row keeps an int64 key and a float value unboxed in one 48 B
object, the bounds in one object shared by the window's rows; this one keeps
four slots. Both convert the window bounds to floats
on construction and behave as the ``WindowResult`` NamedTuple did (fields by
name and index, ``len``, unpacking, ``==``/``hash``/ordering equal to the plain
tuple, ``repr``, pickling, ``_fields``/``_asdict``/``_replace``/``_make``), except
that neither is a ``tuple`` instance.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["FIELDS", "WindowRow"]

FIELDS = ("key", "window_start", "window_end", "value")


def _bound(x: Any) -> float:
    """A window bound as the compiled row stores it (a C double: no strs)."""
    if isinstance(x, (str, bytes, bytearray)):
        raise TypeError(f"must be real number, not {type(x).__name__}")
    return float(x)


def _rebuild(key: Any, window_start: float, window_end: float, value: Any) -> Any:
    """Unpickle: the row type the reading process selected (compiled or pure)."""
    from etlcore.eventtime.base import WindowResult

    return WindowResult(key, window_start, window_end, value)


class WindowRow:
    """One tumbling or sliding window's aggregate for one key: ``(key, window_start,
    window_end, value)``, a tuple in all but ``isinstance``."""

    __slots__ = ("_key", "_start", "_end", "_value")
    _fields = FIELDS
    _field_defaults: dict[str, Any] = {}
    __match_args__ = FIELDS

    def __init__(self, key: Any, window_start: Any, window_end: Any, value: Any) -> None:
        if hasattr(self, "_key"):
            raise TypeError("WindowResult is immutable: use _replace()")
        set_ = object.__setattr__
        set_(self, "_start", _bound(window_start))
        set_(self, "_end", _bound(window_end))
        set_(self, "_key", key)
        set_(self, "_value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"WindowResult is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"WindowResult is immutable: cannot delete {name!r}")

    key = property(operator.attrgetter("_key"))
    window_start = property(operator.attrgetter("_start"))
    window_end = property(operator.attrgetter("_end"))
    value = property(operator.attrgetter("_value"))

    def _tuple(self) -> tuple[Any, float, float, Any]:
        return (self._key, self._start, self._end, self._value)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: Any) -> Any:
        return self._tuple()[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._tuple())

    def __contains__(self, item: Any) -> bool:
        return item in self._tuple()

    def _compare(self, other: Any, op: Any) -> Any:
        if isinstance(other, WindowRow):
            other = other._tuple()
        elif not isinstance(other, tuple):
            return NotImplemented
        return op(self._tuple(), other)

    def __eq__(self, other: object) -> Any:
        return self._compare(other, operator.eq)

    def __ne__(self, other: object) -> Any:
        return self._compare(other, operator.ne)

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> Any:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, operator.ge)

    def __hash__(self) -> int:
        return hash(self._tuple())

    def __repr__(self) -> str:
        return (f"WindowResult(key={self._key!r}, window_start={self._start!r}, "
                f"window_end={self._end!r}, value={self._value!r})")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild, self._tuple())

    def __getnewargs__(self) -> tuple[Any, ...]:
        return self._tuple()

    def __add__(self, other: Any) -> Any:
        if not isinstance(other, (tuple, WindowRow)):
            return NotImplemented
        return self._tuple() + tuple(other)

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, tuple):
            return NotImplemented
        return other + self._tuple()

    def count(self, value: Any) -> int:
        return self._tuple().count(value)

    def index(self, value: Any, *args: Any) -> int:
        return self._tuple().index(value, *args)

    def _asdict(self) -> dict[str, Any]:
        """``{field: value}`` as NamedTuple's ``_asdict``."""
        return dict(zip(FIELDS, self._tuple(), strict=True))

    def _replace(self, **changes: Any) -> WindowRow:
        """A new row with some fields changed, as NamedTuple's ``_replace``."""
        values = self._asdict()
        for name, value in changes.items():
            if name not in values:
                raise ValueError(f"Got unexpected field names: {[name]!r}")
            values[name] = value
        return type(self)(**values)

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> WindowRow:
        """A row from an iterable of four items, as NamedTuple's ``_make``."""
        items = tuple(iterable)
        if len(items) != 4:
            raise TypeError(f"Expected 4 arguments, got {len(items)}")
        return cls(*items)
