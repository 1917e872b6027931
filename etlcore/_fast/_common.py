"""Constants and slow-path helpers shared by the ``*_ref`` and ``*_c`` kernels.

Both implementations import this module so that reducer names, error messages,
state versions and the rare big-integer encoding cannot drift apart (faust's
parity bugs came from twins that each kept their own copy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Reducer codes; the compiled kernels switch on these integers.
SUM, COUNT, MIN, MAX, MEAN, CALL = range(6)
REDUCERS: dict[str, int] = {"sum": SUM, "count": COUNT, "min": MIN, "max": MAX, "mean": MEAN}

#: Version tag at the head of every ``to_state()`` tuple, checked on restore.
STATE_VERSION = 1

#: Marker byte before the minimal signed encoding of ints outside int64.
BIGINT_MARKER = b"\x49"
#: Marker byte before the element hashes of a tuple key.
TUPLE_MARKER = b"\x54"
#: Java's ``Double.doubleToLongBits`` canonical NaN, as big-endian bytes.
CANONICAL_NAN = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"


def reducer_code(reducer: str | Callable[[Any, Any], Any]) -> int:
    """Validate ``reducer`` once, up front, so a typo fails before any data moves."""
    if isinstance(reducer, str):
        try:
            return REDUCERS[reducer]
        except KeyError:
            raise ValueError(
                f"unknown reducer {reducer!r}: expected 'sum', 'count', 'min', 'max', "
                "'mean' or a callable f(a, b) -> c"
            ) from None
    if callable(reducer):
        return CALL
    raise TypeError(
        f"reducer must be 'sum', 'count', 'min', 'max', 'mean' or a callable, "
        f"not {type(reducer).__name__}"
    )


def key_type_error(key: object) -> TypeError:
    """Explain which key types partition stably, and how to get one."""
    return TypeError(
        f"cannot partition a key of type {type(key).__name__!r}: keys must be str, bytes, "
        "int, float, None or tuples of these (use key_by to derive one)"
    )


def bigint_bytes(n: int) -> bytes:
    """Encode an int outside int64 as a marker plus minimal signed big-endian bytes.

    The marker keeps these apart from the 8-byte LongSerializer encoding used
    for ints that fit in int64.
    """
    size = ((~n if n < 0 else n).bit_length() // 8) + 1
    return BIGINT_MARKER + n.to_bytes(size, "big", signed=True)


def check_partitions(n: int) -> int:
    """Reject a partition count that would divide by zero or split nothing."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number of partitions must be an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"number of partitions must be >= 1, got {n}")
    return n


def check_state(state: object, what: str) -> list:
    """Unpack a ``(STATE_VERSION, payload)`` checkpoint, refusing unknown versions."""
    if not isinstance(state, (tuple, list)) or len(state) != 2 or state[0] != STATE_VERSION:
        raise ValueError(
            f"unsupported {what} state: expected ({STATE_VERSION}, [...]) as written by "
            f"{what}.to_state()"
        )
    return list(state[1])


def check_inverse(code: int, inverse: Callable[[Any, Any], Any] | None) -> None:
    """An inverse only makes sense for a callable reducer; say so instead of ignoring it."""
    if inverse is None:
        return
    if not callable(inverse):
        raise TypeError(f"inverse must be a callable f(a, b) -> c, not {type(inverse).__name__}")
    if code != CALL:
        raise ValueError(
            "inverse only applies to a callable reducer ('sum', 'count' and 'mean' "
            "already have one)"
        )


def check_window(window_panes: int) -> int:
    """A window must span at least one pane."""
    if isinstance(window_panes, bool) or not isinstance(window_panes, int):
        raise TypeError(f"window_panes must be an int, not {type(window_panes).__name__}")
    if window_panes < 1:
        raise ValueError(f"window_panes must be >= 1, got {window_panes}")
    return window_panes


def is_field(field: object) -> bool:
    """A field reference: an int index (not a bool) or a str key, read as ``record[field]``."""
    return isinstance(field, str) or (isinstance(field, int) and not isinstance(field, bool))


def check_field(field: object, what: str) -> object:
    """Accept a field reference, a precomputed column (list) or None for ``columns``."""
    if field is None or isinstance(field, list) or is_field(field):
        return field
    raise TypeError(
        f"{what} must be a field reference (an int index or a str key), a list or None, "
        f"not {type(field).__name__}"
    )
