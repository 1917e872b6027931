"""The sink's JSON encoding: the same bytes as ``json.dumps`` (compact, ``default=str``),
whatever path a value takes through it. No broker needed."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from etlcore_kafka.sink import _json


class Level(enum.IntEnum):
    LOW = 1


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


_JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@given(_JSONABLE)
def test_json_values_encode_as_json_dumps_does(value: Any) -> None:
    assert _json(value) == _dumps(value)


def test_values_json_cannot_hold_and_int_and_str_kin_encode_as_json_dumps_does() -> None:
    odd = [2**70, -0, True, False, Level.LOW, float("nan"), float("inf"), "\u2028\"é\n",
           (1, "a"), {1: 2, "k": [None]}, datetime.date(2024, 1, 2), b"raw", {3}]
    for value in odd:
        assert _json(value) == _dumps(value), value
