"""A hard stop ends a batch whose reader is waiting, on every runner that runs here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.source import OffsetSource, ReaderContext, SourceReader


class WaitingReader(SourceReader):
    """Reads nothing until told to stop, as a reader waiting for a server that is down.

    With ``honours_stop`` it watches the engine's stop event; without, it sleeps on
    (a reader that does not know about it: only ending its process helps).
    """

    def __init__(self, entered: str, honours_stop: bool):
        self.entered = entered
        self.honours_stop = honours_stop
        self.ctx: ReaderContext | None = None

    def open(self, ctx: ReaderContext) -> None:
        self.ctx = ctx

    def read(self, partition: str, start: int, end: int) -> list[int]:
        Path(self.entered).touch()
        assert self.ctx is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.honours_stop and self.ctx.stop_event.wait(0.05):
                raise RuntimeError("stopped while waiting")
            time.sleep(0.05)
        return list(range(start, end))


class WaitingSource(OffsetSource):
    def __init__(self, entered: str, honours_stop: bool = True):
        self.entered = entered
        self.honours_stop = honours_stop

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return 10

    def reader(self) -> SourceReader:
        return WaitingReader(self.entered, self.honours_stop)


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the reader never started"
        time.sleep(0.02)


@pytest.mark.parametrize(("runner", "honours_stop"),
                         [("local", True), ("processes", True), ("processes", False)])
def test_a_hard_stop_ends_a_waiting_read_and_leaves_the_batch_uncommitted(
        tmp_path, runner, honours_stop):
    entered = tmp_path / "entered"
    ckpt = tmp_path / "ckpt"
    ctx = StreamingContext(0.05, checkpoint=str(ckpt), name=f"hard-stop-{runner}",
                           runner=runner, workers=1 if runner == "processes" else None)
    ctx.stream(WaitingSource(str(entered), honours_stop)).sink("memory", name="hard-stop")
    ctx.start()
    _wait_for(entered)
    began = time.monotonic()
    ctx.stop(graceful=False)
    assert ctx.await_termination(timeout=15), "the hard stop did not end the run"
    assert time.monotonic() - began < 10
    assert len(list((ckpt / "plans").glob("*.json"))) == 1  # batch 0 was planned, logged,
    assert not list((ckpt / "commits").glob("*.json"))  # and never committed: a restart replays it


@pytest.fixture
def shipped_by_value():
    """The shared driver's executors cannot import this test module: ship it by value."""
    import sys

    import cloudpickle

    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    yield
    cloudpickle.unregister_pickle_by_value(module)


@pytest.mark.services
def test_a_hard_stop_cancels_the_spark_jobs_of_the_batch(tmp_path, spark_context,
                                                         shipped_by_value):
    from etlcore.runners.spark import SparkRunner

    entered = tmp_path / "entered"  # the executors run on this machine: a shared path
    ckpt = tmp_path / "ckpt"
    ctx = StreamingContext(0.05, checkpoint=str(ckpt), name="hard-stop-spark",
                           runner=SparkRunner(context=spark_context))
    ctx.stream(WaitingSource(str(entered), honours_stop=False)).sink("memory", name="hs-spark")
    ctx.start()
    _wait_for(entered, timeout=60)
    began = time.monotonic()
    ctx.stop(graceful=False)
    assert ctx.await_termination(timeout=30), "the hard stop did not end the run"
    assert time.monotonic() - began < 20
    assert not list((ckpt / "commits").glob("*.json"))
    assert spark_context.parallelize(range(4), 2).sum() == 6  # the shared driver still works
