"""Field references (``time=0``, ``key="user"``, ``value=2``) give what callables give.

The kernel reads referenced fields of tuple, list and dict records itself; a
record missing a field is a dead letter naming it, and the job goes on.
"""

from __future__ import annotations

import itertools
from operator import itemgetter

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError

_names = itertools.count()

# (time, key, value): out of order, sessions that bridge, late records, several keys
DATA = [[(t * 1.7 % 13 + b * 2.0, f"k{t % 3}", t * 0.5) for t in range(8)] for b in range(10)]
DATA[7].append((0.5, "k0", 99.0))  # late for every window type
DATA += [[], []]

JOBS = {
    "tumbling": lambda s, k, v: s.tumbling_window(5, key=k, value=v, agg="sum"),
    "sliding": lambda s, k, v: s.sliding_window(10, 5, key=k, value=v, agg="mean"),
    "session": lambda s, k, v: s.session_window(3, key=k, value=v, agg="sum"),
    "session-update": lambda s, k, v: s.session_window(3, key=k, value=v, agg="max",
                                                        emit="update"),
}


def run(data, time, key, value, build, runner="local", path=None, batches=None, parallelism=2):
    name = f"fields-{next(_names)}"
    ctx = StreamingContext(1.0, path, clock="manual", name="fields", parallelism=parallelism,
                           runner=runner, checkpoint_interval=3)
    build(ctx.queue_stream(data).with_event_time(time=time, max_delay="2s"), key, value
          ).sink("memory", name=name)
    try:
        metrics = ctx.run(batches=batches or len(data))
        return MemorySink.batches(name), metrics.total_late_records, ctx.dead_letters
    finally:
        MemorySink.clear(name)


@pytest.mark.parametrize("job", list(JOBS))
def test_tuple_and_dict_fields_give_the_callables_answer(job):
    build = JOBS[job]
    want = run(DATA, itemgetter(0), lambda r: r[1], lambda r: r[2], build)
    assert want[0] and want[1] > 0 and all(d["reason"] == "late" for d in want[2])
    assert run(DATA, 0, 1, 2, build) == want
    assert run(DATA, 0, -2, lambda r: r[2], build) == want  # refs and callables mixed
    as_lists = [[list(r) for r in batch] for batch in DATA]
    assert run(as_lists, 0, 1, 2, build)[:2] == want[:2]
    as_dicts = [[{"ts": t, "user": k, "amount": v} for t, k, v in batch] for batch in DATA]
    assert run(as_dicts, "ts", "user", "amount", build)[:2] == want[:2]


@pytest.mark.parametrize("job", list(JOBS))
def test_one_partition_folds_records_directly_with_the_same_answer(job):
    # one partition and field references: the pane and session kernels fold the records
    # themselves (sessions: lateness, dead letters and the watermark's input in the kernel)
    build = JOBS[job]
    want = run(DATA, itemgetter(0), lambda r: r[1], lambda r: r[2], build, parallelism=1)
    assert want[0] and want[1] > 0
    assert run(DATA, 0, 1, 2, build, parallelism=1) == want
    # a record missing a field sends its partition the careful way: a dead letter, same windows
    broken = [list(batch) for batch in DATA]
    broken[3].append((7.0, "k1"))
    got = run(broken, 0, 1, 2, build, parallelism=1)
    assert got[:2] == want[:2]
    assert [d["reason"] for d in got[2] if d["reason"] != "late"] == [
        "IndexError: tuple index out of range"]


def test_session_fields_on_the_processes_runner_and_across_a_restart(tmp_path):
    build = JOBS["session"]
    want = run(DATA, 0, 1, 2, build)
    assert run(DATA, 0, 1, 2, build, runner="processes") == want
    ckpt = tmp_path / "ckpt"
    name = f"fields-{next(_names)}"

    def job(n):
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="fields", parallelism=2,
                               checkpoint_interval=3)
        build(ctx.queue_stream(DATA).with_event_time(time=0, max_delay="2s"), 1, 2
              ).sink("memory", name=name)
        ctx.run(batches=n)

    job(5)
    (ckpt / "commits" / f"{4:012d}.json").unlink()  # killed before batch 4 committed
    job(len(DATA) - 5)
    try:
        assert MemorySink.batches(name) == want[0]
    finally:
        MemorySink.clear(name)


@pytest.mark.parametrize("job", list(JOBS))
def test_two_sources_into_one_key_partition_fold_each_block(job):
    # a union feeds the one reduce task a block of raw records from each source
    build = JOBS[job]

    def run_union(time, key, value):
        name = f"fields-{next(_names)}"
        ctx = StreamingContext(1.0, clock="manual", name="fields", parallelism=1)
        halves = [ctx.queue_stream([batch[i::2] for batch in DATA]) for i in (0, 1)]
        build(halves[0].union(halves[1]).with_event_time(time=time, max_delay="2s"), key, value
              ).sink("memory", name=name)
        try:
            metrics = ctx.run(batches=len(DATA))
            return (MemorySink.batches(name), metrics.total_late_records,
                    sorted(d["reason"] for d in ctx.dead_letters))
        finally:
            MemorySink.clear(name)

    want = run_union(itemgetter(0), itemgetter(1), itemgetter(2))
    assert want[0] and want[1] > 0
    assert run_union(0, 1, 2) == want


def test_a_record_missing_a_field_is_a_dead_letter_naming_it():
    data = [[{"ts": 1.0, "user": "a"}, {"ts": 2.0}, {"ts": 1.5, "user": "a"}], [{"ts": 99.0,
                                                                                "user": "b"}], []]
    got, late, dead = run(data, "ts", "user", None, lambda s, k, v: s.session_window(
        5, key=k, agg="count"), batches=3)
    assert [(r.key, r.window_start, r.count) for rows in got.values() for r in rows] == [
        ("a", 1.0, 2)]
    assert [(d["record"], d["reason"]) for d in dead] == [({"ts": 2.0}, "KeyError: 'user'")]


def test_bad_field_references_are_config_errors():
    s = StreamingContext(1.0, clock="manual").queue_stream([[]])
    with pytest.raises(ConfigError, match="with_event_time.time"):
        s.with_event_time(time=1.5, max_delay="1s")
    with pytest.raises(ConfigError, match="with_event_time.time"):
        s.with_event_time(0, "1s", time=0)
    with pytest.raises(ConfigError, match="with_event_time.max_delay"):
        s.with_event_time(time=0)
    ev = s.with_event_time(time=0, max_delay="1s")
    with pytest.raises(ConfigError, match="tumbling_window.key"):
        ev.tumbling_window(5, key=True)
    with pytest.raises(ConfigError, match="session_window.value"):
        ev.session_window(5, value=[2])


def test_session_state_from_before_the_kernel_still_decodes():
    from etlcore.eventtime.sessions import SessionWindowNode

    ctx = StreamingContext(1.0, clock="manual")
    ev = ctx.queue_stream([[]]).with_event_time(time=0, max_delay="1s")
    node = ev.session_window(3, key=1, agg="count").node
    assert isinstance(node, SessionWindowNode)
    old = [["u", [[1_000_000, 2_000_000, 2, 2]]], ["v", [[5_000_000, 5_000_000, 1, 1]]]]
    for data in (old, [], node.encode_state(node.decode_state(old))):
        state = node.decode_state(data)
        assert len(state) == (0 if data == [] else 2)
    state = node.decode_state(old)
    assert [(r.key, r.window_start, r.count) for r in node.process(
        state, [], [], [], 10**9, None)] == [("u", 1.0, 2), ("v", 5.0, 1)]
    # the current format, as a list (a codec that turns tuples into lists)
    assert len(node.decode_state(list(node.encode_state(node.decode_state(old))))) == 2
