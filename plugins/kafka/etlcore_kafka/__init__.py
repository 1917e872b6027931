"""etlcore-kafka: the ``kafka`` source and sink, registered through etlcore's plugin hooks.

Installed, it is found through the ``etlcore`` entry-point group; the connector
modules (and confluent-kafka) are imported only when the registry first asks.
"""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar

__version__ = "0.1.0"


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    from etlcore_kafka.config import KafkaSourceConfig
    from etlcore_kafka.source import KafkaSource

    register.source("kafka", KafkaSource, KafkaSourceConfig,
                    "Kafka topics as a direct stream: planned offset ranges per partition")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    from etlcore_kafka.config import KafkaSinkConfig
    from etlcore_kafka.sink import KafkaSink

    register.sink("kafka", KafkaSink, KafkaSinkConfig,
                  "keyed records to a Kafka topic, one transaction per batch (exactly once)")
