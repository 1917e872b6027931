"""The DStream operators Spark has and PySpark's comparison (test_dstream_pyspark) cannot
pin down: windows of any length and slide against a brute-force reference, partition
counts, empty batches, restores and the processes runner, and the camelCase hints."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.runners.processes import ProcessRunner

_names = itertools.count()


def run(build: Any, batches: int, runner: Any = "local", parallelism: int = 2,
        **options: Any) -> dict[int, list[Any]]:
    name = f"dstream-{next(_names)}"
    MemorySink.clear(name)
    ctx = StreamingContext(1.0, clock="manual", parallelism=parallelism, runner=runner,
                           **options)
    build(ctx).sink("memory", name=name)
    ctx.run(batches=batches)
    try:
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


def random_batches(seed: int, n: int, keys: str = "abcdef") -> list[list[tuple[str, int]]]:
    rng = random.Random(seed)
    return [[(rng.choice(keys), rng.randint(1, 5)) for _ in range(rng.randint(0, 5))]
            for _ in range(n)]


def carried_window(batches: list[list[tuple[str, int]]], length: int, slide: int,
                   drop_zero: bool) -> dict[int, dict[str, int]]:
    """Brute force for a sum with an inverse: a key appears once it had records and stays
    (with the sum of its records in the window, 0 when none) unless zeros are dropped."""
    out: dict[int, dict[str, int]] = {}
    seen: set[str] = set()
    for i in range(len(batches)):
        if (i + 1) % slide:
            continue
        window = [kv for b in batches[max(0, i - length + 1):i + 1] for kv in b]
        sums = Counter()
        for k, v in window:
            sums[k] += v
        seen |= set(sums)
        result = {k: sums.get(k, 0) for k in seen}
        if drop_zero:
            result = {k: v for k, v in result.items() if v != 0}
            seen = set(result)
        out[i] = result
    return out


@pytest.mark.parametrize("length,slide", [(3, 1), (4, 2), (2, 3), (5, 2)])
@pytest.mark.parametrize("drop_zero", [False, True])
def test_reduce_by_key_and_window_with_inverse_matches_brute_force(length, slide, drop_zero):
    batches = random_batches(length * 10 + slide, 16)
    keep = (lambda kv: kv[1] != 0) if drop_zero else None
    got = run(lambda ctx: ctx.queue_stream(batches).reduce_by_key_and_window(
        lambda a, b: a + b, lambda a, b: a - b, length, slide, num_partitions=3,
        filter_func=keep), 16)
    want = carried_window(batches, length, slide, drop_zero)
    assert {i: dict(r) for i, r in got.items()} == {i: w for i, w in want.items() if w}


def test_filter_func_filters_the_builtin_window_too():
    batches = [[("a", 1), ("b", 4)], [("a", 2)], [("b", 1)]]
    got = run(lambda ctx: ctx.queue_stream(batches).reduce_by_key_and_window(
        "sum", None, 2, filter_func=lambda kv: kv[1] > 2), 3)
    assert {i: dict(r) for i, r in got.items()} == {0: {"b": 4}, 1: {"a": 3, "b": 4}}


def test_reduce_by_window_with_and_without_inverse():
    batches = [[1, 2], [3], [], [], [4]]
    plain = run(lambda ctx: ctx.queue_stream(batches).reduce_by_window("sum", None, 2), 5)
    carried = run(lambda ctx: ctx.queue_stream(batches).reduce_by_window(
        lambda a, b: a + b, lambda a, b: a - b, 2), 5)
    assert plain == {0: [3], 1: [6], 2: [3], 4: [4]}  # an empty window: nothing
    assert carried == {0: [3], 1: [6], 2: [3], 3: [0], 4: [4]}  # Spark's incremental form


def test_reduce_folds_each_batch_and_skips_empty_ones():
    batches = [[3, 1, 2], [], [7]]
    got = run(lambda ctx: ctx.queue_stream(batches).repartition(3).reduce(max), 3)
    assert got == {0: [3], 2: [7]}
    with pytest.raises(ConfigError, match="reduce.func"):
        StreamingContext(1.0, clock="manual").queue_stream([[1]]).reduce("mean")


def test_repartition_spreads_evenly_and_keeps_every_record():
    batches = [list(range(10)), list(range(10, 13))]
    sizes = run(lambda ctx: ctx.queue_stream(batches).repartition(4)
                .map_partitions(lambda part: [len(part)]), 2)
    assert {i: sorted(s) for i, s in sizes.items()} == {0: [2, 2, 3, 3], 1: [0, 1, 1, 1]}
    records = run(lambda ctx: ctx.queue_stream(batches).repartition(4), 2)
    assert {i: sorted(r) for i, r in records.items()} == {0: batches[0], 1: batches[1]}
    with pytest.raises(ConfigError, match="repartition.num_partitions"):
        StreamingContext(1.0, clock="manual").queue_stream([[1]]).repartition(0)


def test_transform_with_passes_batch_info_and_runs_when_one_side_is_empty():
    got = run(lambda ctx: ctx.queue_stream([[1, 2], []]).transform_with(
        ctx.queue_stream([[], [5]]),
        lambda left, right, info: [(info.batch_id, sum(left), sum(right))]), 2)
    assert got == {0: [(0, 3, 0)], 1: [(1, 0, 5)]}


def test_outer_joins_of_a_static_table_are_refused_for_the_right_side():
    s = StreamingContext(1.0, clock="manual").queue_stream([[("a", 1)]])
    with pytest.raises(ConfigError, match="right_outer_join.other"):
        s.right_outer_join({"a": 1})


def test_initial_state_keys_are_updated_from_the_first_batch_and_time_out():
    batches = [[("a", 1)], [], [], [("b", 2)]]
    got = run(lambda ctx: ctx.queue_stream(batches).update_state_by_key(
        lambda new, old: (old or 0) + sum(new), timeout="1.5s", num_partitions=2,
        initial_state={"a": 10, "z": 5}), 4)
    # z never gets values: its clock starts at the first batch (not at -inf, not never),
    # so, like a, it is dropped once idle for more than 1.5 s: at batch 2
    assert {i: dict(r) for i, r in got.items()} == {
        0: {"a": 11, "z": 5}, 1: {"a": 11, "z": 5}, 3: {"b": 2}}
    with pytest.raises(ConfigError, match="update_state_by_key.initial_state"):
        StreamingContext(1.0, clock="manual").queue_stream([[1]]).update_state_by_key(
            lambda new, old: old, initial_state=[1, 2])


def test_initial_state_is_not_applied_again_after_a_restore(tmp_path):
    def build(ctx: StreamingContext) -> Any:
        src = ctx.source("generator", kind="clicks", seed=3, rate=1e6, partitions=1,
                         limit=40, start_time=1_700_000_000.0)
        return src.map(lambda r: ("all", 1)).update_state_by_key(
            lambda new, old: old + len(new), initial_state={"all": 1000})

    options = {"checkpoint": str(tmp_path / "ckpt"), "checkpoint_interval": 1,
               "max_rate_per_partition": 10, "name": "initial-restore"}
    first = run(build, 2, **options)
    second = run(build, 2, **options)
    assert first[1] == [("all", 1020)]
    assert sorted(second)[-1] >= 2 and second[max(second)] == [("all", 1040)]


def test_new_operators_match_the_local_runner_on_worker_processes():
    batches = random_batches(11, 8)
    other = random_batches(12, 8, keys="defgh")

    def build(ctx: StreamingContext) -> Any:
        a, b = ctx.queue_stream(batches), ctx.queue_stream(other)
        tag = lambda name: (lambda r: (name, r))  # noqa: E731
        return a.cogroup(b).map(tag("cogroup")).union(
            a.full_outer_join(b).map(tag("full")),
            a.right_outer_join(b).map(tag("right")),
            a.reduce_by_key_and_window(lambda x, y: x + y, lambda x, y: x - y, 3,
                                       filter_func=lambda kv: kv[1] > 1).map(tag("window")),
            a.update_state_by_key(lambda new, old: (old or 0) + len(new),
                                  initial_state=[("a", 5), ("q", 1)]).map(tag("state")),
            a.group_by_key_and_window(2).map(tag("group")),
            a.flat_map_values(range).repartition(3).map(tag("flat")),
            a.map(lambda kv: kv[1]).reduce_by_window(lambda x, y: x + y,
                                                    lambda x, y: x - y, 3).map(tag("total")))

    local = run(build, 8)
    shipped = run(build, 8, runner=ProcessRunner(workers=2))
    assert shipped == local
    assert {r[0] for recs in local.values() for r in recs} == {
        "cogroup", "full", "right", "window", "state", "group", "flat", "total"}


@pytest.mark.parametrize("obj,name,hint", [
    ("stream", "flatMap", "flat_map"),
    ("stream", "reduceByKeyAndWindow", "reduce_by_key_and_window"),
    ("stream", "foreachRDD", "foreach_batch"),
    ("stream", "updateStateByKey", "update_state_by_key"),
    ("context", "socketTextStream", "socket_text_stream"),
    ("context", "awaitTermination", "await_termination"),
])
def test_spark_camel_case_names_get_a_hint(obj, name, hint):
    ctx = StreamingContext(1.0, clock="manual")
    target = ctx.queue_stream([[1]]) if obj == "stream" else ctx
    with pytest.raises(AttributeError, match=f"did you mean '{hint}'") as err:
        getattr(target, name)
    assert err.value.name == name


def test_unknown_names_get_no_hint():
    s = StreamingContext(1.0, clock="manual").queue_stream([[1]])
    with pytest.raises(AttributeError) as err:
        s.flatMapp  # noqa: B018
    assert "did you mean" not in str(err.value)
    assert not hasattr(s, "mapPartitionsWithIndex")


def test_a_carried_window_resumes_from_its_checkpoint(tmp_path):
    """Stopped after 5 batches and restarted, the window equals an uninterrupted run's."""

    def build(ctx: StreamingContext) -> Any:
        src = ctx.source("generator", kind="clicks", seed=5, rate=1e6, partitions=2,
                         limit=400, start_time=1_700_000_000.0)
        pairs = src.map(lambda r: ((r["event"], r["user_id"][-1]), 1))  # tuple keys
        return pairs.reduce_by_key_and_window(
            lambda a, b: a + b, lambda a, b: a - b, 4, 2, num_partitions=2,
            filter_func=lambda kv: kv[1] > 1)

    options = {"max_rate_per_partition": 20, "checkpoint_interval": 1}
    whole = run(build, 10, checkpoint=str(tmp_path / "a"), name="carried-a", **options)
    first = run(build, 5, checkpoint=str(tmp_path / "b"), name="carried-b", **options)
    rest = run(build, 5, checkpoint=str(tmp_path / "b"), name="carried-b", **options)
    assert {**first, **rest} == whole
    assert len(whole) == 5 and all(whole.values())
