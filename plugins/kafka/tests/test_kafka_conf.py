"""The librdkafka settings of the source's consumers: etlcore's tuning, which a user's
``client_config`` may change, and the exactly-once settings, which it may not. No broker."""

from __future__ import annotations

import pytest
from etlcore.config import parse_config
from etlcore.errors import ConfigError

from etlcore_kafka.config import KafkaSourceConfig
from etlcore_kafka.reader import consumer_conf


def _conf(**client_config: object) -> dict[str, object]:
    config = parse_config(KafkaSourceConfig, {"bootstrap_servers": "127.0.0.1:9092",
                                              "topics": ["t"], "client_config": client_config})
    return consumer_conf(config, "clicks")


def test_the_consumers_connect_to_every_named_broker_unless_told_otherwise() -> None:
    assert _conf()["enable.sparse.connections"] is False
    assert _conf(**{"enable.sparse.connections": True})["enable.sparse.connections"] is True
    assert _conf(**{"fetch.queue.backoff.ms": 500})["fetch.queue.backoff.ms"] == 500


def test_the_exactly_once_settings_cannot_be_overridden() -> None:
    assert _conf()["enable.auto.commit"] is False
    with pytest.raises(ConfigError, match="enable.auto.commit"):
        _conf(**{"enable.auto.commit": True})
