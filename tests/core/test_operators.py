"""Each stream operator, batch by batch, against answers worked out by hand."""

from collections import Counter

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError


def run(ctx, stream, name, batches=None):
    stream.sink("memory", name=name)
    ctx.run(batches=batches, until_idle=batches is None)
    return MemorySink.batches(name)


def test_narrow_operators_per_batch(ctx, sink_name):
    lines = ctx.queue_stream([["a b", "c"], ["d e f"]])
    out = lines.flat_map(str.split).map(str.upper).filter(lambda w: w != "E")
    assert run(ctx, out, sink_name) == {0: ["A", "B", "C"], 1: ["D", "F"]}


def test_key_by_map_values_map_partitions(ctx, sink_name):
    s = ctx.queue_stream([[1, 2, 3]])
    out = s.key_by(lambda x: x % 2).map_values(lambda v: v * 10).map_partitions(
        lambda part: sorted(part)
    )
    assert run(ctx, out, sink_name)[0] == [(0, 20), (1, 10), (1, 30)]


@pytest.mark.parametrize(
    "func,expected",
    [
        ("sum", {"a": 4, "b": 2}),
        ("count", {"a": 2, "b": 1}),
        ("min", {"a": 1, "b": 2}),
        ("max", {"a": 3, "b": 2}),
        ("mean", {"a": 2.0, "b": 2.0}),
        (lambda x, y: x * y, {"a": 3, "b": 2}),
    ],
)
def test_reduce_by_key(ctx, sink_name, func, expected):
    s = ctx.queue_stream([[("a", 1), ("b", 2), ("a", 3)]])
    got = run(ctx, s.reduce_by_key(func), sink_name)
    assert dict(got[0]) == expected


def test_reduce_by_key_over_many_partitions_matches_counter(sink_name):
    ctx = StreamingContext(1.0, clock="manual")
    words = [f"w{i % 37}" for i in range(2000)]
    src = ctx.source("queue", batches=[words])
    out = src.map(lambda w: (w, 1)).reduce_by_key("sum", num_partitions=5)
    got = run(ctx, out, sink_name)[0]
    assert dict(got) == Counter(words)
    assert len(got) == 37


def test_group_by_key_keeps_arrival_order(ctx, sink_name):
    s = ctx.queue_stream([[("a", 1), ("b", 2), ("a", 3)]])
    assert dict(run(ctx, s.group_by_key(), sink_name)[0]) == {"a": [1, 3], "b": [2]}


def test_count_and_count_by_value(ctx, sink_name):
    s = ctx.queue_stream([["x", "y", "x"], []])
    counted = run(ctx, s.count_by_value(), sink_name)
    assert dict(counted[0]) == {"x": 2, "y": 1}
    ctx2 = StreamingContext(1.0, clock="manual")
    s2 = ctx2.queue_stream([["x", "y", "x"], []])
    assert run(ctx2, s2.count(), sink_name + "n", batches=2) == {0: [3], 1: [0]}


def test_union(ctx, sink_name):
    a = ctx.queue_stream([[1], [2]])
    b = ctx.queue_stream([[10], [20]])
    assert run(ctx, a.union(b), sink_name) == {0: [1, 10], 1: [2, 20]}


def test_transform_sees_whole_batch_and_batch_info(ctx, sink_name):
    s = ctx.queue_stream([[3, 1, 2], [5]])
    out = s.transform(lambda records, info: [(info.batch_id, sorted(records))])
    assert run(ctx, out, sink_name, batches=2) == {0: [(0, [1, 2, 3])], 1: [(1, [5])]}


def test_window_emits_every_slide(ctx, sink_name):
    s = ctx.queue_stream([[1], [2], [3], [4], [5]])
    got = run(ctx, s.window(3, 2), sink_name, batches=5)
    # batches 0..4; emits after batches 1 and 3 with the last 3 batches' records
    assert got == {1: [1, 2], 3: [2, 3, 4]}


@pytest.mark.parametrize("inverse", [None, lambda a, b: a - b])
def test_reduce_by_key_and_window(ctx, sink_name, inverse):
    batches = [[("a", 1)], [("a", 2), ("b", 5)], [("a", 4)], [], [("b", 1)]]
    s = ctx.queue_stream(batches)
    func = "sum" if inverse is None else (lambda a, b: a + b)
    out = s.reduce_by_key_and_window(func, inverse, length=2, slide=1)
    got = {b: dict(r) for b, r in run(ctx, out, sink_name, batches=5).items()}
    assert got[0] == {"a": 1}
    assert got[1] == {"a": 3, "b": 5}
    assert got[2] == {"a": 6, "b": 5}
    if inverse is None:  # a window holds the keys with records in it
        assert got[3] == {"a": 4}
        assert got[4] == {"b": 1}
    else:  # Spark: carried forward, a key stays with what the inverse left
        assert got[3] == {"a": 4, "b": 0}
        assert got[4] == {"a": 0, "b": 1}


def test_count_by_value_and_window(ctx, sink_name):
    s = ctx.queue_stream([["x"], ["x", "y"], ["y"]])
    out = s.count_by_value_and_window(2)
    got = {b: dict(r) for b, r in run(ctx, out, sink_name, batches=3).items()}
    assert got == {0: {"x": 1}, 1: {"x": 2, "y": 1}, 2: {"x": 1, "y": 2}}


def test_window_length_must_be_a_multiple_of_the_interval(ctx):
    s = ctx.queue_stream([[1]])
    with pytest.raises(ConfigError, match="window.length"):
        s.window("1.5s")
    with pytest.raises(ConfigError, match="reduce_by_key_and_window.length"):
        s.reduce_by_key_and_window("sum")


def test_join_with_static_mapping_and_pairs(ctx, sink_name):
    s = ctx.queue_stream([[("a", 1), ("b", 2), ("z", 3)]])
    joined = s.join({"a": "A", "b": "B"})
    outer = s.left_outer_join([("a", "A1"), ("a", "A2")])
    joined.sink("memory", name=sink_name)
    outer.sink("memory", name=sink_name + "o")
    ctx.run(until_idle=True)
    assert sorted(MemorySink.results(sink_name)) == [("a", (1, "A")), ("b", (2, "B"))]
    assert sorted(MemorySink.results(sink_name + "o")) == [
        ("a", (1, "A1")), ("a", (1, "A2")), ("b", (2, None)), ("z", (3, None))
    ]


def test_join_with_reloading_callable(ctx, sink_name):
    loads = []

    def load():
        loads.append(1)
        return {"k": len(loads)}

    s = ctx.queue_stream([[("k", 0)]] * 5)
    got = run(ctx, s.join(load, reload_every=2), sink_name, batches=5)
    assert [got[b][0][1][1] for b in range(5)] == [1, 1, 2, 2, 3]


def test_join_two_streams(ctx, sink_name):
    left = ctx.queue_stream([[("a", 1), ("b", 2)], [("c", 3)]])
    right = ctx.queue_stream([[("a", "x"), ("a", "y")], [("d", 4)]])
    got = run(ctx, left.join(right), sink_name, batches=2)
    assert sorted(got[0]) == [("a", (1, "x")), ("a", (1, "y"))]
    assert 1 not in got


def test_foreach_batch_gets_batch_ids(ctx):
    seen = []
    ctx.queue_stream([[1, 2], [3]]).foreach_batch(lambda bid, recs: seen.append((bid, recs)))
    ctx.run(until_idle=True)
    assert seen == [(0, [1, 2]), (1, [3]), (2, [])]


def test_on_error_dead_letter_routes_bad_records(ctx, sink_name):
    s = ctx.queue_stream([["1", "x", "3"]])
    out = s.map(int, on_error="dead_letter")
    assert run(ctx, out, sink_name)[0] == [1, 3]
    letters = ctx.dead_letters
    assert len(letters) == 1
    assert letters[0]["record"] == "x"
    assert letters[0]["stage"] == "map-1"
    assert "ValueError" in letters[0]["reason"]
    assert ctx.metrics.total_dead_letters == 1


def test_user_error_without_on_error_stops_the_run(ctx, sink_name):
    s = ctx.queue_stream([["x"]])
    s.map(int).sink("memory", name=sink_name)
    with pytest.raises(ValueError):
        ctx.run(batches=1)


def test_a_job_without_outputs_is_a_config_error(ctx):
    ctx.queue_stream([[1]]).map(str)
    with pytest.raises(ConfigError, match="no output"):
        ctx.run(batches=1)


def test_metrics_per_batch(ctx, sink_name):
    seen = []
    ctx.add_listener(seen.append)
    ctx.queue_stream([[1, 2, 3], [4]]).sink("memory", name=sink_name)
    ctx.run(until_idle=True)
    assert [m.records_in for m in seen] == [3, 1, 0]
    assert seen[0].input_rate == 3.0
    assert seen[0].records_out == {"memory": 3}
    assert all(m.processing_s >= 0 for m in seen)


def test_rejected_records_from_a_source_are_dead_lettered(ctx, sink_name):
    from etlcore.source import Rejected

    s = ctx.queue_stream([[1, Rejected(b"\xff", "bad utf-8"), 2]])
    assert run(ctx, s, sink_name) == {0: [1, 2]}
    assert ctx.dead_letters[0]["reason"] == "bad utf-8"
    assert ctx.dead_letters[0]["stage"] == "queue-1"
    assert ctx.metrics.batches[0].records_in == 3


def test_a_source_that_never_rejects_is_not_scanned_for_rejected_records(ctx, sink_name):
    from etlcore.connectors.queue import QueueSource, QueueSourceConfig
    from etlcore.source import Rejected

    class Plain(QueueSource):
        rejects = False  # its records are data, whatever their type

    odd = Rejected("a record that looks rejected", "never read as one")
    s = ctx.stream(Plain(QueueSourceConfig(batches=[[1, odd, 2]])))
    assert run(ctx, s, sink_name) == {0: [1, odd, 2]}
    assert ctx.dead_letters == []


def test_stop_job_from_foreach_batch_commits_then_stops(ctx, sink_name):
    from etlcore.errors import StopJob

    def stop_at_one(batch_id, records):
        if batch_id == 1:
            raise StopJob()

    s = ctx.queue_stream([[1], [2], [3]])
    s.foreach_batch(stop_at_one)
    s.sink("memory", name=sink_name)
    ctx.run()
    assert MemorySink.batches(sink_name) == {0: [1], 1: [2]}


def test_inverse_with_a_builtin_reducer_is_a_config_error(ctx):
    s = ctx.queue_stream([[("a", 1)]])
    with pytest.raises(ConfigError, match="inv_func"):
        s.reduce_by_key_and_window("sum", lambda a, b: a - b, length=2)


def test_narrow_chains_fuse_but_shared_streams_are_computed_once(ctx, sink_name):
    calls = []

    def seen(x):
        calls.append(x)
        return x

    base = ctx.queue_stream([[1, 2, 3]]).map(seen)
    doubled = base.map(lambda x: x * 2).filter(lambda x: x > 2).map(str)
    base.map(lambda x: -x).sink("memory", name=sink_name + "neg")
    doubled.sink("memory", name=sink_name)
    ctx.run(batches=1)
    assert MemorySink.results(sink_name) == ["4", "6"]
    assert MemorySink.results(sink_name + "neg") == [-1, -2, -3]
    assert calls == [1, 2, 3]  # `base` feeds two streams: not fused into either, run once
    assert doubled.node.parents == [base.node]  # map -> filter -> map fused into one node


def test_guarded_filter_and_flat_map_keep_order_and_skip_only_failures(ctx, sink_name):
    s = ctx.queue_stream([[4, 0, 3, 0, 6, 1]])
    kept = s.filter(lambda x: 12 // x > 2, on_error="dead_letter")
    spread = s.flat_map(lambda x: [x] * (6 // x), on_error="dead_letter")
    kept.sink("memory", name=sink_name)
    spread.sink("memory", name=sink_name + "f")
    ctx.run(batches=1)
    assert MemorySink.results(sink_name) == [4, 3, 1]
    assert MemorySink.results(sink_name + "f") == [4, 3, 3, 6, 1, 1, 1, 1, 1, 1]
    assert [d["record"] for d in ctx.dead_letters] == [0, 0, 0, 0]
    assert ctx.metrics.total_dead_letters == 4


def test_a_source_list_is_copied_unless_the_source_says_it_is_fresh(ctx, sink_name):
    from etlcore.connectors.queue import QueueSource, QueueSourceConfig

    held = [3, 1, 2]
    seen = []

    class Shared(QueueSource):  # read hands out the list it holds
        def read(self, partition, start, end):
            return held

    class Fresh(Shared):
        fresh_lists = True  # (not true of Shared: the engine would take held itself)

    def sort_in_place(part):
        seen.append(part)
        part.sort()
        return part

    for cls in (Shared, Fresh):
        s = ctx.stream(cls(QueueSourceConfig(batches=[[0]])), name=cls.__name__)
        s.map_partitions(sort_in_place).sink("memory", name=f"{sink_name}-{cls.__name__}")
    ctx.run(batches=1)
    assert [MemorySink.batches(f"{sink_name}-{n}") for n in ("Shared", "Fresh")] == [
        {0: [1, 2, 3]}, {0: [1, 2, 3]}]
    assert [p is held for p in seen] == [False, True]  # Shared's list was copied
