"""Kafka settings that only tune delivery do not make a checkpoint refuse a restart.

A job restarted with a longer ``request_timeout`` (say, for a slow cluster)
reads the same topics from the same offsets; the fingerprint must not call it
another job. Changing what is read (the topics) is still refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from etlcore.connectors.queue import MemorySink
from etlcore.context import StreamingContext
from etlcore.errors import CheckpointError
from kafka_testlib import produce_json

from etlcore_kafka.config import KafkaSinkConfig, KafkaSourceConfig

pytestmark = pytest.mark.services

TUNING = {"request_timeout": 25.0, "metadata_max_age": 5.0, "group_id": "lag-monitor"}


def _job(ckpt: Path, out: str, **source: Any) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="kafka-fingerprint")
    ctx.source("kafka", **source).sink("memory", name=out)
    return ctx


def test_tuning_options_are_left_out_of_the_identity() -> None:
    source = {f.name for f in KafkaSourceConfig.__dataclass_fields__.values()
              if not f.metadata.get("identity", True)}
    sink = {f.name for f in KafkaSinkConfig.__dataclass_fields__.values()
            if not f.metadata.get("identity", True)}
    assert source == set(TUNING)
    assert sink == {"request_timeout", "transaction_timeout"}


def test_a_changed_timeout_resumes_the_checkpoint(kafka_bootstrap: str,
                                                  topics: Callable[..., str],
                                                  tmp_path: Path) -> None:
    topic = topics(partitions=2)
    sink_name = f"fingerprint-{topic}"
    base = {"bootstrap_servers": kafka_bootstrap, "topics": [topic]}
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(5)])
    _job(tmp_path, sink_name, **base).run(until_idle=True)
    produce_json(kafka_bootstrap, topic, [{"id": i} for i in range(5, 8)])
    _job(tmp_path, sink_name, **base, **TUNING).run(until_idle=True)
    assert sorted(r["id"] for r in MemorySink.results(sink_name)) == list(range(8))
    MemorySink.clear(sink_name)

    other = topics(partitions=1)
    with pytest.raises(CheckpointError, match="different version of job"):
        _job(tmp_path, sink_name, **{**base, "topics": [other]}).run(until_idle=True)
