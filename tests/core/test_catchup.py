"""Catch-up batches: a job that is behind plans several steps of a step source at once.

Coalescing changes how a backlog is cut into batches, never what is stored where the
operators allow it; the cap and the rate bound are honoured, and a source that did
not opt in (``Source.coalesces``) keeps one step a batch.
"""

from __future__ import annotations

import random
import textwrap
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.catchup import DEFAULT_RECORDS, behind
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.job import load_yaml_job
from etlcore.runners.spark import SparkRunner
from etlcore.source import OffsetSource, SourceReader

#: 30 steps of 1-7 records; event times disordered by up to 3 s within and across steps
_rng = random.Random(5)
STEPS: list[list[tuple[float, int, int]]] = []
_t = 0.0
for _s in range(30):
    step = []
    for _ in range(_rng.randint(1, 7)):
        _t += 0.5
        step.append((_t - _rng.uniform(0, 3), _rng.randint(0, 3), _rng.randint(1, 9)))
    STEPS.append(step)


def run_queue(catch_up: Any, steps: list[list[Any]] = STEPS, **ctx_kw: Any,
              ) -> tuple[list[Any], list[int], list[Any]]:
    """Tumbling-window sums over the queue: (stored rows, records per batch, plans)."""
    ctx = StreamingContext(1.0, clock="manual", name="catchup", catch_up=catch_up, **ctx_kw)
    seen: list[Any] = []
    ctx.add_listener(seen.append)
    (ctx.queue_stream(steps, name="queue")
        .with_event_time(time=0, max_delay="5s")  # covers the disorder: no late records
        .tumbling_window("4s", key=1, value=2, agg="sum")
        .sink("memory", name="catchup"))
    try:
        ctx.run(until_idle=True)
        rows = sorted((r.key, r.window_start, r.value) for r in MemorySink.results("catchup"))
    finally:
        MemorySink.clear("catchup")
    return rows, [m.records_in for m in seen], [m.plan["queue"]["0"] for m in seen]


def test_coalesced_batches_store_what_one_step_a_batch_stores():
    one, per_step, _ = run_queue(False)
    merged, per_batch, _ = run_queue(25)
    assert per_step[:-1] == [len(s) for s in STEPS]  # off: one step a batch
    assert len(per_batch) < len(per_step) / 3  # on: the backlog in a few batches
    assert sum(per_batch) == sum(per_step)
    assert merged == one and one


def test_a_batch_takes_whole_steps_up_to_the_cap():
    _, per_batch, plans = run_queue(20)
    steps = [len(s) for s in STEPS]
    for (start, end), n in zip(plans, per_batch, strict=True):
        assert n == sum(steps[start:end])
        if end < len(steps):  # the next step would have passed the cap
            assert n <= 20 < n + steps[end]
        else:  # the backlog's last batch: up to a tenth over, to leave no tail behind
            assert n <= 22


def batch_sizes(steps: list[int], catch_up: int, **ctx_kw: Any) -> list[int]:
    """Records in each non-empty batch of a queue of steps of ``steps`` records."""
    ctx = StreamingContext(1.0, clock="manual", name="tail", catch_up=catch_up, **ctx_kw)
    sizes: list[int] = []
    ctx.add_listener(lambda m: sizes.append(m.records_in) if m.records_in else None)
    ctx.queue_stream([list(range(n)) for n in steps]).sink("memory", name="tail")
    try:
        ctx.run(until_idle=True)
        assert sum(len(b) for b in MemorySink.batches("tail").values()) == sum(steps)
    finally:
        MemorySink.clear("tail")
    return sizes


def test_a_backlogs_small_tail_goes_with_the_last_full_batch():
    assert batch_sizes([10] * 10 + [1], catch_up=50) == [50, 51]  # not 50, 50, 1
    assert batch_sizes([10] * 10 + [5], catch_up=50) == [50, 55]  # a tenth of the cap
    assert batch_sizes([10] * 10 + [6], catch_up=50) == [50, 50, 6]  # more: its own batch


def test_a_batch_goes_over_the_cap_only_to_end_the_backlog():
    # 2 + 2 would fit in the tenth, but steps follow them: they wait for the next batch
    assert batch_sizes([10] * 5 + [2, 2, 2, 10], catch_up=50) == [50, 16]


def test_the_rate_bound_wins_over_the_tail():
    assert batch_sizes([10] * 10 + [1], catch_up=50, max_rate_per_partition=50) == [50, 50, 1]
    assert batch_sizes([10] * 10 + [3], catch_up=50, max_rate_per_partition=52) == [50, 50, 3]
    assert batch_sizes([10] * 10 + [2], catch_up=50, max_rate_per_partition=52) == [50, 52]


def test_the_first_step_is_taken_even_above_the_cap():
    _, per_batch, plans = run_queue(2, steps=[[1, 2, 3], [4], [5], [6, 7]])
    assert plans[:3] == [[0, 1], [1, 3], [3, 4]]
    assert per_batch[:3] == [3, 2, 2]


def test_the_rate_bound_wins_over_the_cap():
    _, per_batch, _ = run_queue(1000, max_rate_per_partition=9)
    assert max(per_batch) == 9  # steps of 1-7 records were coalesced up to the bound
    assert len(per_batch) - 1 < len(STEPS)  # (the last batch is the empty one)


def test_a_queue_told_one_at_a_time_is_never_coalesced():
    ctx = StreamingContext(1.0, clock="manual", name="strict", catch_up=True)
    ctx.source("queue", batches=STEPS, one_at_a_time=True).sink("memory", name="strict")
    try:
        ctx.run(until_idle=True)
        assert [len(b) for b in MemorySink.batches("strict").values()] == [len(s) for s in STEPS]
    finally:
        MemorySink.clear("strict")


class StepSource(OffsetSource):
    """A step source (10 records a step) that has not opted in to coalescing."""

    rejects = False

    def partitions(self) -> list[str]:
        return ["0", "1"]

    def available(self, partition: str) -> int:
        return 8

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(8, start + 1)

    def estimate(self, partition: str, start: int, end: int) -> int:
        return 10 * (end - start)

    def reader(self) -> SourceReader:
        return StepReader()


class StepReader(SourceReader):
    def read(self, partition: str, start: int, end: int) -> list[tuple[str, int]]:
        return [(partition, i) for i in range(10 * start, 10 * end)]


class CoalescingStepSource(StepSource):
    coalesces = True


@pytest.mark.parametrize(("source", "batches"), [(StepSource, 8), (CoalescingStepSource, 3)])
def test_only_a_source_that_opts_in_is_coalesced(source, batches):
    ctx = StreamingContext(1.0, clock="manual", name="steps", catch_up=60)
    sizes: list[int] = []
    ctx.add_listener(lambda m: sizes.append(m.records_in))
    ctx.stream(source()).sink("memory", name="steps")
    try:
        ctx.run(until_idle=True)
        got = MemorySink.results("steps")
    finally:
        MemorySink.clear("steps")
    # 60 records a batch split over two partitions: 3 steps of 10 each
    assert sizes[:-1] == ([20] * 8 if batches == 8 else [60, 60, 40])
    assert sorted(got) == [(p, i) for p in "01" for i in range(80)]


def test_behind_means_the_next_batch_is_already_due():
    class At:
        sleeps = True

        def __init__(self, now: float):
            self.t = now

        def now(self) -> float:
            return self.t

    assert not behind(At(10.5), batch_time=10.0, interval=1.0)  # on time
    assert behind(At(11.0), batch_time=10.0, interval=1.0)  # the next batch is due
    assert behind(type("Manual", (), {"sleeps": False})(), batch_time=0.0, interval=1.0)


def test_the_runner_chooses_unless_the_job_says():
    assert StreamingContext(runner="local").catch_up_records is None
    assert SparkRunner(master="local[2]").catch_up_records == 1_000_000  # no driver started
    assert StreamingContext(runner=SparkRunner(master="local[2]")).catch_up_records == 1_000_000
    assert StreamingContext(runner=SparkRunner(master="local[2]"),
                            catch_up=False).catch_up_records is None
    assert StreamingContext(catch_up=True).catch_up_records == DEFAULT_RECORDS
    assert StreamingContext(catch_up=0).catch_up_records is None
    assert StreamingContext(catch_up=500).catch_up_records == 500


@pytest.mark.parametrize("bad", [-1, 2.5, "lots", [1]])
def test_a_bad_setting_names_the_key(bad):
    with pytest.raises(ConfigError, match="config key 'catch_up'"):
        StreamingContext(catch_up=bad)


def test_the_yaml_key(tmp_path):
    path = tmp_path / "job.yaml"
    body = textwrap.dedent("""
        name: q
        catch_up: {value}
        source: {{type: queue, config: {{batches: [[1, 2], [3], [4]]}}}}
        store: [{{sink: memory, config: {{name: yaml-catchup}}}}]
    """)
    path.write_text(body.format(value=2))
    ctx = load_yaml_job(path).build(clock="manual")
    assert ctx.catch_up_records == 2
    try:
        ctx.run(until_idle=True)
        assert list(MemorySink.batches("yaml-catchup").values()) == [[1, 2], [3, 4]]
    finally:
        MemorySink.clear("yaml-catchup")
    path.write_text(body.format(value="lots"))
    with pytest.raises(ConfigError, match="config key 'catch_up'"):
        load_yaml_job(path)
