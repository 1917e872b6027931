"""Connector events (retries, outages) counted by readers, writers and commits reach
``BatchMetrics.counts`` on every runner that runs here."""

from __future__ import annotations

from typing import Any

import pytest

from etlcore import StreamingContext, metrics
from etlcore.batch import BatchInfo
from etlcore.sink import BufferingWriter, DirectSink, SinkWriter


class FlakyWriter(BufferingWriter):
    """Fails the first send of every partition once (an outage), then stores."""

    retry_on = (ConnectionError,)
    retry_base = 0.001

    def __init__(self) -> None:
        self.failed: set[tuple[int, int]] = set()

    def send(self, batch: BatchInfo, partition: int, chunk: list[Any]) -> None:
        if (batch.batch_id, partition) not in self.failed:
            self.failed.add((batch.batch_id, partition))
            raise ConnectionError("server down")
        metrics.count("flaky.stored", len(chunk))
        metrics.count("flaky.sends")


class FlakySink(DirectSink):
    def writer(self) -> SinkWriter:
        return FlakyWriter()

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        metrics.count("flaky.commits")


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_retries_and_connector_counts_reach_the_batch_metrics(runner):
    ctx = StreamingContext(1.0, clock="manual", name=f"counts-{runner}", runner=runner,
                           workers=2 if runner == "processes" else None)
    seen: list[dict[str, int]] = []
    ctx.add_listener(lambda m: seen.append(dict(m.counts)))
    (ctx.queue_stream([[1, 2, 3, 4], [5, 6]])
        .map(lambda x: (x, 1)).reduce_by_key(lambda a, b: a + b, num_partitions=2)
        .to(FlakySink(), name="flaky"))
    ctx.run(batches=2)
    assert [c.get("flaky.commits") for c in seen] == [1, 1]  # the driver's commits
    assert [c.get("flaky.stored") for c in seen] == [4, 2]  # the workers' writes
    for c in seen:  # every partition's first send failed once and was retried
        assert c["retries"] == c["flaky.sends"] >= 1, c


def test_count_outside_a_batch_does_nothing():
    metrics.count("nowhere")  # no error, nothing to collect into
    with metrics.counting({}) as into:
        metrics.count("here", 2)
    assert into == {"here": 2}
