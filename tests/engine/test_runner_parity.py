"""The same job stores the same output on every runner (local, processes, a Spark cluster).

Each job runs once per runner with a manual clock and a fixed number of state
partitions, and its committed batches are compared with the local runner's,
record for record and in order: stages, partition numbering and routing are the
runner's business only in where they run, never in what they produce.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.stream import Stream

pytestmark = pytest.mark.services

_names = itertools.count()
T0 = 1_700_000_000.0


def run_job(build: Callable[[StreamingContext], Stream], runner: Any, batches: int,
            **options: Any) -> dict[int, list[Any]]:
    name = f"parity-{next(_names)}"
    # batch for batch: every runner plans one queued batch a batch (no catch-up, which is
    # the driver's planning, the same on every runner: tests/core/test_catchup.py)
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2,
                           catch_up=False, **options)
    build(ctx).sink("memory", name=name)
    try:
        ctx.run(batches=batches)
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


def clicks(ctx: StreamingContext, seed: int = 7, partitions: int = 3,
           rate: float = 1e6) -> Stream:
    return ctx.source("generator", name=f"clicks-{seed}", kind="clicks", seed=seed, rate=rate,
                      partitions=partitions, limit=4000, start_time=T0)


def word_count(ctx: StreamingContext) -> Stream:
    lines = ctx.queue_stream([["a b c a", "b"], ["c c"], [], ["a", "d e"]] * 3)
    return lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key("sum")


def window_and_state(ctx: StreamingContext) -> Stream:
    events = clicks(ctx)
    windowed = (events.map(lambda r: (r["event"], 1))
                      .reduce_by_key_and_window("sum", None, length=3, slide=1))
    totals = (events.map(lambda r: (r["user_id"], r["event"]))
                    .update_state_by_key(lambda new, old: (old or 0) + len(new)))
    return windowed.union(totals.filter(lambda kv: kv[1] % 7 == 0))


def sessions(ctx: StreamingContext) -> Stream:
    events = clicks(ctx, rate=600).with_event_time(lambda r: r["ts"], max_delay="0.5s")
    return events.session_window("0.1s", key=lambda r: r["user_id"], agg="count")


def stream_join(ctx: StreamingContext) -> Stream:
    left = clicks(ctx, seed=1, partitions=2).map(lambda r: (r["user_id"], r["event"]))
    right = clicks(ctx, seed=2, partitions=1).map(lambda r: (r["user_id"], r["url"]))
    joined = left.join(right)
    return joined.map(lambda kv: (kv[0], kv[1][0], kv[1][1])).transform(sorted)


JOBS = {"word_count": (word_count, 12, {}),
        "window_and_state": (window_and_state, 8, {"max_rate_per_partition": 150}),
        "sessions": (sessions, 8, {"max_rate_per_partition": 200}),
        "stream_join": (stream_join, 6, {"max_rate_per_partition": 100})}

_reference: dict[str, dict[int, list[Any]]] = {}


def reference(job: str) -> dict[int, list[Any]]:
    if job not in _reference:
        build, batches, options = JOBS[job]
        _reference[job] = run_job(build, "local", batches, **options)
    return _reference[job]


@pytest.mark.parametrize("job", list(JOBS))
def test_every_runner_stores_what_the_local_runner_stores(job: str, runner: Any) -> None:
    build, batches, options = JOBS[job]
    want = reference(job)
    assert sum(len(v) for v in want.values()) > 10, "the job must produce something to compare"
    got = run_job(build, runner, batches, **options)
    assert got == want


def test_dead_letters_and_counters_come_back_from_workers(runner: Any) -> None:
    name = f"parity-{next(_names)}"
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2,
                           catch_up=False)  # counts per queued batch
    seen = []
    ctx.add_listener(seen.append)
    (ctx.queue_stream([["1", "x", "3"], ["y", "5"]])
        .map(int, on_error="dead_letter").map(lambda n: (n % 2, n)).reduce_by_key("sum")
        .sink("memory", name=name))
    ctx.run(batches=2)
    MemorySink.clear(name)
    assert [m.dead_letters for m in seen] == [1, 1]
    assert [m.records_in for m in seen] == [3, 2]
    assert sorted(d["record"] for d in ctx.dead_letters) == ["x", "y"]
    assert all("ValueError" in d["reason"] for d in ctx.dead_letters)
