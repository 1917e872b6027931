"""reduce_by_key with field references: the kernel reads tuple and dict records itself."""

from __future__ import annotations

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError

BATCHES = [[("a", 1, 2.5), ("b", 2, 1.0), ("a", 3, 0.5)], [("b", 4, 1.0)], []]


def run(batches, name, parallelism=1, **fields):
    MemorySink.clear(name)
    ctx = StreamingContext(1.0, clock="manual", name=name, parallelism=parallelism)
    ctx.queue_stream(batches).reduce_by_key("sum", **fields).sink("memory", name=name)
    ctx.run(batches=len(batches))
    try:
        return {b: sorted(rows) for b, rows in MemorySink.batches(name).items()}, ctx.dead_letters
    finally:
        MemorySink.clear(name)


@pytest.mark.parametrize("parallelism", [1, 3])
def test_tuple_and_dict_fields_give_the_pairs_answer(parallelism):
    pairs = [[(k, v) for k, _n, v in batch] for batch in BATCHES]
    want, _ = run(pairs, "rf-pairs", parallelism)
    assert want == {0: [("a", 3.0), ("b", 1.0)], 1: [("b", 1.0)]}
    assert run(BATCHES, "rf-tuples", parallelism, key=0, value=-1) == (want, [])
    dicts = [[{"user": k, "amount": v} for k, _n, v in batch] for batch in BATCHES]
    assert run(dicts, "rf-dicts", parallelism, key="user", value="amount") == (want, [])


def test_value_none_folds_the_record_and_missing_fields_are_dead_letters():
    batches = [[{"user": "a"}, {"name": "x"}, {"user": "a"}, {"user": ["unhashable"]}], []]
    ctx = StreamingContext(1.0, clock="manual", name="rf-count", parallelism=1)
    ctx.queue_stream(batches).reduce_by_key("count", key="user").sink("memory", name="rf-count")
    ctx.run(batches=2)
    try:
        assert MemorySink.batches("rf-count") == {0: [("a", 2)]}
    finally:
        MemorySink.clear("rf-count")
    assert [(d["record"], d["reason"].split(":")[0]) for d in ctx.dead_letters] == [
        ({"name": "x"}, "KeyError"), ({"user": ["unhashable"]}, "TypeError")]


def test_bad_field_references_are_config_errors():
    s = StreamingContext(1.0, clock="manual").queue_stream([[]])
    with pytest.raises(ConfigError, match="reduce_by_key.key"):
        s.reduce_by_key("sum", key=1.5)
    with pytest.raises(ConfigError, match="reduce_by_key.key"):
        s.reduce_by_key("sum", value=2)
    with pytest.raises(ConfigError, match="reduce_by_key.value"):
        s.reduce_by_key("sum", key=0, value=[1])
