"""etlcore-kafka: the ``kafka`` source and sink, registered through etlcore's plugin hooks.

- source: :class:`~etlcore_kafka.source.KafkaSource` plans offset ranges on the driver,
  :class:`~etlcore_kafka.reader.KafkaReader` reads them on workers.
- sink: :class:`~etlcore_kafka.sink.KafkaWriter` encodes records on workers,
  :class:`~etlcore_kafka.sink.KafkaSink` produces each batch in one transaction on the driver.

Installed, it is found through the ``etlcore`` entry-point group; the connector
modules (and confluent-kafka) are imported only when the registry first asks.
"""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar

__version__ = "0.1.0"


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register.source("kafka", "etlcore_kafka.source:KafkaSource",
                    "etlcore_kafka.config:KafkaSourceConfig",
                    "Kafka topics as a direct stream: planned offset ranges per partition")


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("kafka", "etlcore_kafka.sink:KafkaSink", "etlcore_kafka.config:KafkaSinkConfig",
                  "keyed records to a Kafka topic, one transaction per batch (exactly once)")
