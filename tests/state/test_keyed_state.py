"""update_state_by_key and map_with_state: Spark semantics, timeouts, restarts."""

from __future__ import annotations

import itertools

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError

_names = itertools.count()

BATCHES = [[("a", 1), ("b", 2), ("a", 3)], [("b", 1)], [], [("c", 5), ("a", 1)], [("b", 0)]]


@pytest.fixture
def name():
    n = f"state-{next(_names)}"
    MemorySink.clear(n)
    return n


def ctx_for(path=None, **kw):
    return StreamingContext(1.0, path, clock="manual", name="state", **kw)


def running_total(new, old):
    return (old or 0) + sum(new)


def test_update_state_by_key_running_totals(name):
    ctx = ctx_for()
    ctx.queue_stream(BATCHES).update_state_by_key(running_total).sink("memory", name=name)
    metrics = ctx.run(batches=5)
    batches = {b: dict(r) for b, r in MemorySink.batches(name).items()}
    assert batches == {0: {"a": 4, "b": 2}, 1: {"a": 4, "b": 3}, 2: {"a": 4, "b": 3},
                       3: {"a": 5, "b": 3, "c": 5}, 4: {"a": 5, "b": 3, "c": 5}}
    assert [m.state_size for m in metrics.batches] == [2, 2, 2, 3, 3]


def test_keys_without_values_are_called_with_empty_list_and_none_removes(name):
    calls = []

    def fn(new, old):
        calls.append((tuple(new), old))
        if not new:
            return None if old >= 2 else old + 1  # age, then expire
        return 0

    ctx = ctx_for()
    ctx.queue_stream([[("k", 1)], [], [], [], []]).update_state_by_key(fn).sink("memory", name=name)
    ctx.run(batches=5)
    assert calls == [((1,), None), ((), 0), ((), 1), ((), 2)]
    assert MemorySink.batches(name) == {0: [("k", 0)], 1: [("k", 1)], 2: [("k", 2)]}


def test_update_state_by_key_timeout_drops_quiet_keys(name):
    ctx = ctx_for()
    batches = [[("a", 1), ("b", 1)], [("a", 1)], [("a", 1)], [("a", 1)]]
    ctx.queue_stream(batches).update_state_by_key(running_total, timeout="1s").sink(
        "memory", name=name)
    ctx.run(batches=4)
    keys = {b: [k for k, _ in r] for b, r in MemorySink.batches(name).items()}
    assert keys == {0: ["a", "b"], 1: ["a", "b"], 2: ["a"], 3: ["a"]}  # b idle 2s > 1s


def dedupe(key, value, state):
    """Emit a value the first time its key is seen (the socket crash job's pattern)."""
    if state.exists():
        state.update(state.get() + 1)
        return (key, value, "dup", state.get())
    state.update(1)
    return (key, value, "new", 1)


def test_map_with_state_one_record_out_per_record_in(name):
    ctx = ctx_for(parallelism=1)
    ctx.queue_stream(BATCHES).map_with_state(dedupe).sink("memory", name=name)
    ctx.run(batches=5)
    assert MemorySink.batches(name) == {
        0: [("a", 1, "new", 1), ("b", 2, "new", 1), ("a", 3, "dup", 2)],
        1: [("b", 1, "dup", 2)],
        3: [("c", 5, "new", 1), ("a", 1, "dup", 3)],
        4: [("b", 0, "dup", 3)],
    }


def test_map_with_state_timeout_calls_once_with_timing_out_state(name):
    seen = []

    def fn(key, value, state):
        if state.is_timing_out():
            seen.append((key, state.get()))
            with pytest.raises(RuntimeError):
                state.update(0)
            return ("timeout", key, state.get())
        total = state.get_option(0) + value
        state.update(total)
        return (key, total)

    ctx = ctx_for(parallelism=1)
    batches = [[("a", 1), ("b", 10)], [("a", 2)], [("a", 3)], [], [], []]
    ctx.queue_stream(batches).map_with_state(fn, timeout=1.5).sink("memory", name=name)
    metrics = ctx.run(batches=6)
    assert MemorySink.batches(name) == {
        0: [("a", 1), ("b", 10)], 1: [("a", 3)], 2: [("a", 6), ("timeout", "b", 10)],
        4: [("timeout", "a", 6)],
    }
    assert seen == [("b", 10), ("a", 6)]
    assert [m.state_size for m in metrics.batches] == [2, 2, 1, 1, 0, 0]


def test_state_remove(name):
    def fn(key, value, state):
        if value == "del":
            state.remove()
            return (key, "removed")
        state.update(value)
        return (key, state.get())

    ctx = ctx_for(parallelism=1)
    ctx.queue_stream([[("a", 1)], [("a", "del")], [("a", 2)]]).map_with_state(fn).sink(
        "memory", name=name)
    metrics = ctx.run(batches=3)
    assert MemorySink.results(name) == [("a", 1), ("a", "removed"), ("a", 2)]
    assert [m.state_size for m in metrics.batches] == [1, 0, 1]


@pytest.mark.parametrize("op", ["update_state_by_key", "map_with_state"])
def test_restart_gives_the_same_output_as_one_run(tmp_path, name, op):
    fn = running_total if op == "update_state_by_key" else dedupe
    data = [[(k, i) for k in "abcdefg"[: 1 + i % 5]] for i in range(12)]

    def job(path, sink):
        ctx = ctx_for(path, checkpoint_interval=3)
        getattr(ctx.queue_stream(data), op)(fn).sink("memory", name=sink)
        return ctx

    job(tmp_path / "a", name).run(batches=5)
    (tmp_path / "a" / "commits" / f"{4:012d}.json").unlink()  # crash before batch 4 committed
    job(tmp_path / "a", name).run(batches=7)
    job(None, name + "-ref").run(batches=12)
    assert MemorySink.batches(name) == MemorySink.batches(name + "-ref")


def test_bad_arguments_are_config_errors():
    s = ctx_for().queue_stream([])
    with pytest.raises(ConfigError, match="timeout"):
        s.update_state_by_key(running_total, timeout="soon")
    with pytest.raises(ConfigError, match="fn"):
        s.map_with_state("not a function")
    with pytest.raises(ConfigError, match="num_partitions"):
        s.update_state_by_key(running_total, num_partitions=-1)
