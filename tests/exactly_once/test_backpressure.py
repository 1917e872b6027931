"""Backpressure on the real clock: a sink slower than the source.

The sink takes ``PER_RECORD`` s per record (~1000 records/s); the generator
offers 10,000/s, capped at 1,000 records per 0.5 s batch, about twice what the
sink can take. Without backpressure every batch takes ~1 s, so each starts
~0.5 s later than the one before. With Spark's PID estimator the batch size
falls to what the sink can take within the interval and the scheduling delay
drains and stays small.
"""

from __future__ import annotations

import time

import pytest

from etlcore import BatchInfo, Sink, StreamingContext
from etlcore.sink import SinkWriter

pytestmark = pytest.mark.slow

PER_RECORD = 0.001
INTERVAL = 0.5
MAX_RATE = 1000  # records/s per partition: 2 x 1000 x 0.5 s = 1000 records per batch
CAPPED = 1000


class SlowWriter(SinkWriter):
    def write(self, batch: BatchInfo, partition: int, records: list) -> None:
        time.sleep(PER_RECORD * len(records))


class SlowSink(Sink):
    def writer(self) -> SinkWriter:
        return SlowWriter()

    def commit(self, batch: BatchInfo, messages: list) -> None:
        pass


def run(backpressure: bool, seconds: float = 9.0):
    ctx = StreamingContext(INTERVAL, name="bp", backpressure=backpressure,
                           max_rate_per_partition=MAX_RATE)
    ctx.source("generator", kind="sensors", rate=10_000, partitions=2).to(SlowSink())
    metrics = ctx.run(duration=seconds)
    batches = list(metrics.batches)
    sizes = [m.records_in for m in batches]
    delays = [round(m.scheduling_delay_s, 2) for m in batches]
    print(f"backpressure={backpressure}: sizes {sizes}\n  delays {delays}")
    return sizes, delays


def test_without_backpressure_the_delay_grows_batch_after_batch():
    sizes, delays = run(False)
    assert set(sizes) == {CAPPED}  # every batch at the cap
    assert len(delays) >= 5
    assert all(b > a for a, b in zip(delays[1:], delays[2:], strict=False))
    assert delays[-1] > 2.5


def test_with_backpressure_batches_shrink_and_the_delay_stays_bounded():
    sizes, delays = run(True)
    tail = len(sizes) // 2
    assert len(sizes) >= 10
    assert max(sizes[tail:]) < sizes[0]  # the estimator cut the input below the cap
    assert max(delays) < 2.0
    assert max(delays[tail:]) < 0.5  # drained: batches start (nearly) on time again
