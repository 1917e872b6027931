"""reduce_by_key_and_window with field references: the same windows as the pairs job."""

from __future__ import annotations

import random
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError


def _batches(seed: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    return [[{"user": f"u{rng.randrange(7)}", "amount": rng.randrange(100)}
             for _ in range(rng.randrange(0, 40))] for _ in range(9)]


def run(name: str, batches: list[list[Any]], build: Any, parallelism: int = 1) -> tuple[
        dict[int, list[Any]], list[dict[str, Any]]]:
    MemorySink.clear(name)
    ctx = StreamingContext(1.0, clock="manual", name=name, parallelism=parallelism)
    build(ctx.queue_stream(batches)).sink("memory", name=name)
    ctx.run(batches=len(batches))
    try:
        return ({b: sorted(rows) for b, rows in MemorySink.batches(name).items()},
                ctx.dead_letters)
    finally:
        MemorySink.clear(name)


@pytest.mark.parametrize("parallelism", [1, 3])
@pytest.mark.parametrize("func,value", [("count", None), ("sum", "amount"), ("min", "amount"),
                                        ("max", "amount"), ("mean", "amount"),
                                        (lambda a, b: a + b, "amount")])
def test_fields_give_the_pairs_jobs_windows(func: Any, value: Any, parallelism: int) -> None:
    """Every built-in (and a function) over dict records: what mapping to (key, value)
    pairs gives, window by window, also with the map side split over partitions."""
    batches = _batches(17)

    def pairs(s: Any) -> Any:
        return s.map(lambda r: (r["user"], r if value is None else r[value])
                     ).reduce_by_key_and_window(func, length="4s", slide="2s")

    def fields(s: Any) -> Any:
        return s.reduce_by_key_and_window(func, length="4s", slide="2s", key="user",
                                          value=value)

    want, _ = run("wf-pairs", batches, pairs, parallelism)
    assert len(want) == 4 and all(want.values())
    assert run("wf-fields", batches, fields, parallelism) == (want, [])


def test_tuple_fields_and_missing_fields_are_dead_letters() -> None:
    batches = [[("a", 1), ("b", 2)], [("a", 3), ("short",), ("c", 1)], [(["x"], 5)], []]
    got, letters = run("wf-tuples", batches,
                       lambda s: s.reduce_by_key_and_window("sum", length="2s", key=0, value=1))
    assert got == {0: [("a", 1), ("b", 2)], 1: [("a", 4), ("b", 2), ("c", 1)],
                   2: [("a", 3), ("c", 1)]}  # batch 3's window is empty: no rows
    assert [(d["record"], d["reason"].split(":")[0]) for d in letters] == [
        (("short",), "IndexError"), ((["x"], 5), "TypeError")]


def test_bad_field_references_are_config_errors() -> None:
    s = StreamingContext(1.0, clock="manual").queue_stream([[]])
    with pytest.raises(ConfigError, match="reduce_by_key_and_window.key"):
        s.reduce_by_key_and_window("sum", length="2s", key=1.5)
    with pytest.raises(ConfigError, match="reduce_by_key_and_window.value"):
        s.reduce_by_key_and_window("sum", length="2s", key=0, value=[1])
    with pytest.raises(ConfigError, match="reduce_by_key_and_window.key"):
        s.reduce_by_key_and_window(lambda a, b: a + b, lambda a, b: a - b, length="2s", key=0)
