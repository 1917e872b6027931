"""Source lag from Kafka's high watermark: in the batch metrics and on ``/metrics``."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from etlcore.connectors.queue import MemorySink
from etlcore.context import StreamingContext
from etlcore.ui import attach
from kafka_testlib import produce_json
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.services


def test_lag_is_what_the_broker_holds_beyond_each_batch(kafka_bootstrap: str,
                                                         topics: Callable[..., str],
                                                         tmp_path: Path) -> None:
    topic = topics(partitions=2)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(100)])
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="kafka-lag",
                           max_rate_per_partition=20)
    ctx.source("kafka", name="in", bootstrap_servers=kafka_bootstrap, topics=[topic]) \
        .sink("memory", name="kafka-lag")
    ui = attach(ctx, {"port": None, "metrics_port": 0})
    try:
        metrics = ctx.run(batches=2)
        with urllib.request.urlopen(ui.metrics_url, timeout=30) as r:
            text = r.read().decode()
    finally:
        ui.stop()
        MemorySink.clear("kafka-lag")
    # 100 records on 2 partitions, at most 20 per partition a batch
    assert [b.records_in for b in metrics.batches] == [40, 40]
    assert [b.source_lag for b in metrics.batches] == [{"in": 60}, {"in": 20}]
    lag = [s.value for f in text_string_to_metric_families(text) for s in f.samples
           if s.name == "etlcore_source_lag_records"]
    assert lag == [20]
