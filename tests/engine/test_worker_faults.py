"""Worker processes that die, functions that cannot travel, operator errors on workers."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.engine.shipping import ShippingError
from etlcore.runners.processes import ProcessRunner, WorkerLostError

BATCHES = [[f"w{i % 5} w{i % 3}" for i in range(j, j + 40)] for j in range(0, 400, 40)]


def word_count(ctx: StreamingContext, name: str, kill_marker: Path | None = None,
               always_die: bool = False) -> None:
    def split(line: str) -> list[str]:
        if always_die:
            os.kill(os.getpid(), signal.SIGKILL)
        if kill_marker is not None and line == "w3 w0" and not kill_marker.exists():
            kill_marker.write_text(str(os.getpid()))  # only the first worker to get here dies
            os.kill(os.getpid(), signal.SIGKILL)
        return line.split()

    (ctx.queue_stream(BATCHES).flat_map(split).map(lambda w: (w, 1))
        .reduce_by_key("sum").update_state_by_key(lambda new, old: (old or 0) + sum(new))
        .sink("memory", name=name))


def run(name: str, runner: object, **kw: object) -> dict[int, list[object]]:
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2)
    word_count(ctx, name, **kw)
    try:
        ctx.run(batches=len(BATCHES))
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)


def test_a_worker_killed_mid_batch_is_replaced_and_nothing_is_lost_or_doubled(tmp_path):
    want = run("faults-ref", "local")
    runner = ProcessRunner(workers=2)
    marker = tmp_path / "killed"
    got = run("faults-kill", runner, kill_marker=marker)
    assert marker.exists(), "the test's worker kill never happened"
    assert runner.restarts == 1
    assert got == want


def test_a_worker_that_keeps_dying_stops_the_job_with_how_it_died():
    runner = ProcessRunner(workers=2, max_restarts=2)
    with pytest.raises(WorkerLostError, match=r"died 3 times.*signal SIGKILL"):
        run("faults-die", runner, always_die=True)


def test_an_operator_error_on_a_worker_names_the_operator_and_is_not_retried():
    ctx = StreamingContext(1.0, clock="manual", name="faults-err", runner=ProcessRunner(2))
    ctx.queue_stream([[1, 0, 2]]).map(lambda n: 10 // n).sink("memory", name="faults-err")
    with pytest.raises(ZeroDivisionError) as info:
        ctx.run(batches=1)
    MemorySink.clear("faults-err")
    assert any("map-1" in note and "worker process-" in note for note in info.value.__notes__)


@pytest.mark.parametrize("runner", ["processes", "spark"])
def test_an_unpicklable_function_fails_before_the_first_batch_naming_operator_and_object(
        runner, tmp_path):
    lock = threading.Lock()
    seen = []

    def guarded(n: int) -> int:
        with lock:
            return n + 1

    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="faults-pickle",
                           runner=runner, workers=1, master="local[1]" if runner == "spark" else None)
    ctx.add_listener(seen.append)
    ctx.queue_stream([[1]]).filter(bool).map(guarded).sink("memory", name="faults-pickle")
    with pytest.raises(ShippingError, match=r"operator 'map-1'.*_thread\.lock.*through "
                                            r"transform\.(first|second)\.fn\.lock"):
        ctx.run(batches=1)
    assert seen == []
    assert not list((tmp_path / "ckpt").glob("plans/*.json"))


def test_an_unpicklable_source_config_is_named():
    from etlcore.source import OffsetSource, SourceReader

    class LockedReader(SourceReader):
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def read(self, partition, start, end):
            return []

    class LockedSource(OffsetSource):
        def partitions(self):
            return ["0"]

        def available(self, partition):
            return 0

        def reader(self):
            return LockedReader()

    ctx = StreamingContext(1.0, clock="manual", name="faults-src", runner="processes", workers=1)
    ctx.stream(LockedSource(), name="locked").sink("memory", name="faults-src")
    with pytest.raises(ShippingError, match=r"source 'locked' \(its reader\).*lock"):
        ctx.run(batches=1)
