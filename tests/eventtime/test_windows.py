"""Event-time windows with known answers: out-of-order input, watermarks, late records.

Records are ``(event_time, key, value)``; max_delay is 2 s, so the watermark in a
batch is (largest event time of the previous batches) - 2.
"""

from __future__ import annotations

import itertools

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.eventtime import SessionResult, WindowResult

_names = itertools.count()

# batch -> records; * marks what is late at that batch's watermark
BATCHES = [
    [(3.0, "a", 1), (1.0, "a", 2), (6.0, "b", 5)],   # wm None; max 6
    [(4.5, "a", 3), (12.0, "a", 1), (2.0, "b", 7)],  # wm 4;    max 12
    [(4.0, "a", 100), (9.0, "b", 1), (11.0, "a", 2)],  # wm 10: 4.0* 9.0* (end == wm is final)
    [(30.0, "a", 1)],                                 # wm 10
    [],                                               # wm 28
]


@pytest.fixture
def name():
    n = f"ev-{next(_names)}"
    MemorySink.clear(n)
    return n


def events(ctx, batches=BATCHES):
    return ctx.queue_stream(batches).with_event_time(lambda r: r[0], max_delay="2s")


def run(build, name, batches=5, path=None, **kw):
    ctx = StreamingContext(1.0, path, clock="manual", name="ev", parallelism=1, **kw)
    build(events(ctx)).sink("memory", name=name)
    return ctx, ctx.run(batches=batches)


def kv(**kw):
    return {"key": lambda r: r[1], "value": lambda r: r[2], **kw}


def test_tumbling_final_emits_each_window_once_when_the_watermark_passes(name):
    ctx, metrics = run(lambda s: s.tumbling_window(5, **kv()), name)
    assert MemorySink.batches(name) == {
        2: [WindowResult("a", 0.0, 5.0, 6), WindowResult("b", 0.0, 5.0, 7),
            WindowResult("b", 5.0, 10.0, 5)],
        4: [WindowResult("a", 10.0, 15.0, 3)],
    }
    assert [m.late_records for m in metrics.batches] == [0, 0, 2, 0, 0]
    assert ctx.dead_letters == [
        {"batch_id": 2, "stage": "tumbling_window-1", "reason": "late", "record": r}
        for r in [(4.0, "a", 100), (9.0, "b", 1)]
    ]


def test_tumbling_update_emits_changed_windows_every_batch(name):
    _, metrics = run(lambda s: s.tumbling_window(5, emit="update", **kv()), name)
    assert MemorySink.batches(name) == {
        0: [WindowResult("a", 0.0, 5.0, 3), WindowResult("b", 5.0, 10.0, 5)],
        1: [WindowResult("a", 0.0, 5.0, 6), WindowResult("b", 0.0, 5.0, 7),
            WindowResult("a", 10.0, 15.0, 1)],
        2: [WindowResult("a", 10.0, 15.0, 3)],
        3: [WindowResult("a", 30.0, 35.0, 1)],
    }
    assert metrics.total_late_records == 2


def test_late_drop_counts_but_does_not_dead_letter(name):
    ctx, metrics = run(lambda s: s.tumbling_window(5, late="drop", **kv()), name)
    assert metrics.total_late_records == 2 and ctx.dead_letters == []


@pytest.mark.parametrize("agg, want", [
    ("count", [3, 1, 1]), ("min", [1, 7, 5]), ("max", [3, 7, 5]), ("mean", [2.0, 7.0, 5.0]),
    (lambda x, y: x * 10 + y, [123, 7, 5]),  # folded in arrival order
])
def test_tumbling_aggregations(name, agg, want):
    run(lambda s: s.tumbling_window(5, **kv(agg=agg)), name, batches=3)
    assert [r.value for r in MemorySink.results(name)] == want


def test_sliding_windows_share_panes_and_finish_in_order(name):
    _, metrics = run(lambda s: s.sliding_window(10, 5, **kv()), name)
    got = {b: [(r.key, r.window_start, r.window_end, r.value) for r in rs]
           for b, rs in MemorySink.batches(name).items()}
    assert got == {
        # wm 10: [-5, 5) and [0, 10) are final; 4.0 is late only if *all* its windows are
        2: [("a", -5.0, 5.0, 6), ("b", -5.0, 5.0, 7),
            ("a", 0.0, 10.0, 6), ("b", 0.0, 10.0, 13)],
        4: [("b", 5.0, 15.0, 6), ("a", 5.0, 15.0, 3), ("a", 10.0, 20.0, 3)],
    }
    assert metrics.total_late_records == 1


def test_sliding_record_in_a_final_window_and_an_open_one_is_not_late(name):
    # batch 1, wm 8: 2.0 belongs to [-5, 5) (final now, emitted in this batch, with it)
    # and to [0, 10) (open): only a record all of whose windows are final is late
    batches = [[(10.0, "k", 1)], [(7.0, "k", 1), (2.0, "k", 1)], [(40.0, "k", 0)], []]
    ctx = StreamingContext(1.0, clock="manual", parallelism=1)
    (events(ctx, batches).sliding_window(10, 5, key=lambda r: r[1], agg="count")
        .sink("memory", name=name))
    metrics = ctx.run(batches=4)
    got = {b: [(r.window_start, r.value) for r in rs] for b, rs in MemorySink.batches(name).items()}
    assert got == {1: [(-5.0, 1)], 3: [(0.0, 2), (5.0, 2), (10.0, 1)]}
    assert metrics.total_late_records == 0


def test_session_windows_merge_when_an_event_bridges_them(name):
    batches = [
        [(1.0, "u", 1), (2.0, "u", 1), (7.0, "u", 1), (3.0, "v", 1)],  # u: [1,5) [7,10); max 7
        [(4.5, "u", 1), (20.0, "v", 1)],  # wm 2: 4.5 bridges u's sessions -> [1, 10)
        [(5.0, "v", 1)],                  # wm 15: late (5 + 3 <= 15); u and v@3 final
        [(30.0, "w", 1)],                 # wm 15
        [],                               # wm 25: v@20 final
    ]
    ctx = StreamingContext(1.0, clock="manual", parallelism=1)
    (ctx.queue_stream(batches).with_event_time(lambda r: r[0], max_delay=5)
        .session_window(3, key=lambda r: r[1], value=lambda r: r[2]).sink("memory", name=name))
    metrics = ctx.run(batches=5)
    assert MemorySink.batches(name) == {
        2: [SessionResult("u", 1.0, 10.0, 4, 4), SessionResult("v", 3.0, 6.0, 1, 1)],
        4: [SessionResult("v", 20.0, 23.0, 1, 1)],
    }
    assert metrics.total_late_records == 1
    assert [m.state_size for m in metrics.batches] == [3, 3, 1, 2, 1]


def test_session_update_mode_emits_the_merged_session(name):
    batches = [[(1.0, "u", 1), (10.0, "u", 1)], [(5.5, "u", 1)], []]
    ctx = StreamingContext(1.0, clock="manual", parallelism=1)
    (ctx.queue_stream(batches).with_event_time(lambda r: r[0], max_delay=10)
        .session_window(5, key=lambda r: r[1], agg="count", emit="update")
        .sink("memory", name=name))
    ctx.run(batches=3)
    assert MemorySink.batches(name) == {
        0: [SessionResult("u", 1.0, 6.0, 1, 1), SessionResult("u", 10.0, 15.0, 1, 1)],
        1: [SessionResult("u", 1.0, 15.0, 3, 3)],
    }


def test_bad_event_time_goes_to_dead_letters(name):
    ctx = StreamingContext(1.0, clock="manual", parallelism=1)
    (events(ctx, [[(1.0, "a", 1), ("soon", "a", 1)], [(9.0, "a", 1)], []])
        .tumbling_window(5, **kv()).sink("memory", name=name))
    ctx.run(batches=3)
    assert [d["reason"] for d in ctx.dead_letters] == ["TypeError: event time must be a number "
                                                       "of seconds or a datetime, not 'soon'"]


def windows_job(s):
    return s.sliding_window(10, 5, **kv(agg="mean"))


@pytest.mark.parametrize("build", [
    windows_job,
    lambda s: s.session_window(3, **kv()),
    lambda s: s.tumbling_window(5, emit="update", **kv()),
])
def test_restart_mid_window_gives_the_same_results(tmp_path, name, build):
    data = [[(t * 1.7 % 13 + b * 2.0, f"k{t % 3}", t) for t in range(6)] for b in range(10)]
    data[7].append((0.5, "k0", 99))  # late for every window type
    data += [[], []]
    ckpt = tmp_path / "ckpt"

    def job(path, sink, n):
        ctx = StreamingContext(1.0, path, clock="manual", name="ev", parallelism=2,
                               checkpoint_interval=3)
        build(events(ctx, data)).sink("memory", name=sink)
        return ctx.run(batches=n)

    job(ckpt, name, 5)
    (ckpt / "commits" / f"{4:012d}.json").unlink()  # killed before batch 4 committed
    job(ckpt, name, 7)
    ref = job(None, name + "-ref", 12)
    assert MemorySink.batches(name) == MemorySink.batches(name + "-ref")
    assert ref.total_late_records > 0 and MemorySink.results(name)


def test_bad_window_arguments_are_config_errors():
    s = events(StreamingContext(1.0, clock="manual"))
    with pytest.raises(ConfigError, match="emit"):
        s.tumbling_window(5, emit="sometimes")
    with pytest.raises(ConfigError, match="agg"):
        s.tumbling_window(5, agg="median")
    with pytest.raises(ConfigError, match="slide"):
        s.sliding_window(5, 10)
    with pytest.raises(ConfigError, match="late"):
        s.session_window(5, late="keep")


# -- columnar batches, partitions and the session expiry index ------------------------------


def _sessions_oracle(records, gap):
    """Every key's sessions computed from all of its events at once."""
    by_key = {}
    for t, k, _v in sorted(records, key=lambda r: r[0]):
        runs = by_key.setdefault(k, [])
        if runs and t <= runs[-1][1] + gap:
            runs[-1][1] = t
            runs[-1][2] += 1
        else:
            runs.append([t, t, 1])
    return sorted((k, s, e + gap, n) for k, runs in by_key.items() for s, e, n in runs)


@pytest.mark.parametrize("parallelism", [1, 3])
def test_sessions_of_many_keys_equal_a_from_scratch_oracle(name, parallelism):
    # records up to 2 s out of order with max_delay 3 s: nothing is late, so every
    # session must come out exactly once, whatever batch finishes it
    import random

    rng = random.Random(7)
    records = []
    for i in range(3000):
        records.append((i * 0.05 + rng.uniform(0, 2), rng.randrange(60), 1))
    records.sort(key=lambda r: r[0] + rng.uniform(0, 2))
    batches = [records[i:i + 250] for i in range(0, len(records), 250)]
    batches += [[(1e4, "flush", 1)], []]
    ctx = StreamingContext(1.0, clock="manual", parallelism=parallelism)
    (ctx.queue_stream(batches).with_event_time(lambda r: r[0], max_delay=3)
        .session_window(1.5, key=lambda r: r[1], agg="count").sink("memory", name=name))
    metrics = ctx.run(batches=len(batches))
    got = sorted((r.key, r.window_start, r.window_end, r.value) for r in MemorySink.results(name)
                 if r.key != "flush")
    want = [(k, s, e, n) for k, s, e, n in _sessions_oracle(records, 1.5)]
    assert metrics.total_late_records == 0
    assert [(k, n) for k, _s, _e, n in got] == [(k, n) for k, _s, _e, n in want]
    assert all(abs(g[1] - w[1]) < 1e-6 and abs(g[2] - w[2]) < 1e-6 for g, w in zip(got, want, strict=True))
    for rows in MemorySink.batches(name).values():  # each partition's rows in window order
        if parallelism == 1:
            assert rows == sorted(rows, key=lambda r: (r.window_start, r.window_end))


@pytest.mark.parametrize("build", [
    lambda s: s.tumbling_window(5, **kv()),
    lambda s: s.sliding_window(10, 5, **kv(agg="mean")),
    lambda s: s.tumbling_window(5, **kv(agg="count", emit="update")),  # partials merge, counted
    lambda s: s.sliding_window(6, 4, key=1, value=2, agg="max", emit="update"),
    lambda s: s.session_window(3, **kv(agg="sum")),
])
def test_partitioned_windows_give_the_single_partition_answer(name, build):
    """Across partitions a pane window's map side combines (pane, key) partials."""
    data = [[(t * 1.7 % 13 + b * 2.0, f"k{t % 5}", t * 0.5) for t in range(8)] for b in range(10)]
    data[7].append((0.5, "k0", 99))
    data += [[], []]
    results = []
    for parallelism in (1, 4):
        sink = f"{name}-{parallelism}"
        MemorySink.clear(sink)
        ctx = StreamingContext(1.0, clock="manual", parallelism=parallelism)
        build(events(ctx, data)).sink("memory", name=sink)
        metrics = ctx.run(batches=len(data))
        results.append((sorted(MemorySink.results(sink)), metrics.total_late_records,
                        ctx.dead_letters))
    assert results[0] == results[1] and results[0][1] > 0


def test_bad_times_and_late_records_dead_letter_in_record_order(name):
    batches = [[(20.0, "a", 1)],
               [(1.0, "a", 1), (None, "a", 1), (21.0, "a", 2), (2.0, "b", 1),
                (float("inf"), "a", 1), (25, "b", 1)],
               [(50.0, "a", 0)], []]
    ctx = StreamingContext(1.0, clock="manual", parallelism=2)
    (events(ctx, batches).tumbling_window(5, **kv()).sink("memory", name=name))
    metrics = ctx.run(batches=4)
    assert [(d["batch_id"], d["reason"][:10], d["record"][0]) for d in ctx.dead_letters] == [
        (1, "late", 1.0), (1, "TypeError:", None), (1, "late", 2.0), (1, "ValueError", float("inf")),
    ]
    assert metrics.total_late_records == 2
    assert sorted(MemorySink.results(name)) == [WindowResult("a", 20.0, 25.0, 3),
                                                WindowResult("b", 25.0, 30.0, 1)]


def test_window_rows_reach_a_lone_foreach_batch_uncopied(monkeypatch):
    from etlcore.eventtime.panes import PaneWindowNode
    from etlcore.records import Records

    made = []
    final = PaneWindowNode._final

    def spy(self, *a):
        made.append(final(self, *a))
        return made[-1]

    monkeypatch.setattr(PaneWindowNode, "_final", spy)
    got = []
    ctx = StreamingContext(1.0, clock="manual", parallelism=1)
    (events(ctx).tumbling_window(5, key=1, value=2)
        .foreach_batch(lambda _, rows: got.append(rows)))
    ctx.run(batches=5)
    got = [r for r in got if r]  # every batch calls foreach_batch, the empty ones too
    assert [list(r) for r in got] == [
        [WindowResult("a", 0.0, 5.0, 6), WindowResult("b", 0.0, 5.0, 7),
         WindowResult("b", 5.0, 10.0, 5)],
        [WindowResult("a", 10.0, 15.0, 3)]]
    assert all(type(r) is Records for r in got)
    handed = [m for m in made if m]
    assert len(handed) == 2 and all(a is b for a, b in zip(got, handed, strict=True))


def test_window_rows_read_twice_are_copied_for_each_reader(name):
    """A foreach_batch that empties its rows takes none from another foreach or a sink."""
    seen = []
    ctx = StreamingContext(1.0, clock="manual", parallelism=1)
    windows = events(ctx).tumbling_window(5, key=1, value=2)
    windows.foreach_batch(lambda _, rows: rows.clear())
    windows.foreach_batch(lambda _, rows: seen.extend(rows))
    windows.sink("memory", name=name)
    windows.foreach_batch(lambda _, rows: rows.clear())
    ctx.run(batches=5)
    want = [WindowResult("a", 0.0, 5.0, 6), WindowResult("b", 0.0, 5.0, 7),
            WindowResult("b", 5.0, 10.0, 5), WindowResult("a", 10.0, 15.0, 3)]
    assert seen == want and MemorySink.results(name) == want
