"""Config schemas of the Kafka source and sink, checked before a job runs.

Checked on the driver; the source's config also travels to workers inside its
reader (which needs ``client_config`` to connect), the sink's never does.

Settings that only tune delivery (timeouts, how often topics are listed, the
lag-monitoring group) are ``option(..., identity=False)``: changing them does
not change what the source reads, so the checkpoint fingerprint leaves them
out and a restart with new values is not refused.

``client_config`` is marked secret as a whole (so core's ``redacted()`` and
``etlcore plugins`` never print it); the reprs here show it with only the
secret-looking values masked, which keeps non-secret settings debuggable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from etlcore.config import Duration, option
from etlcore.errors import ConfigError
from etlcore.jsondecode import JsonDecoder

from etlcore_kafka.secrets import mask

Format = Literal["bytes", "str", "json"]

_CLIENT_HELP = ("librdkafka settings passed through as is (SASL/TLS go here); values whose key "
                "contains password, secret, token or jaas are never shown")


def _client_config_field() -> Any:
    """A secret-marked dict field (``secret()`` cannot take a mutable default)."""
    return dataclasses.field(default_factory=dict, repr=False,
                             metadata={"secret": True, "help": _CLIENT_HELP})


def _check_bootstrap(value: str, where: str) -> None:
    if not value.strip() or any(not part.strip() for part in value.split(",")):
        raise ConfigError(f"{where}bootstrap_servers", "'host:port[,host:port...]'", value)


def _check_reserved(client_config: dict[str, Any], reserved: dict[str, str], prefix: str) -> None:
    """Keys that carry the exactly-once protocol have their own options, or none."""
    for key in client_config:
        if key in reserved:
            raise ConfigError(f"{prefix}client_config.{key}", f"not set here: {reserved[key]}",
                              has_value=False)


_SOURCE_RESERVED = {
    "bootstrap.servers": "use the 'bootstrap_servers' option",
    "isolation.level": "use the 'isolation' option",
    "group.id": "use the 'group_id' option",
    "enable.auto.commit": "offsets live in the checkpoint; 'group_id' commits them for lag tools",
    "enable.auto.offset.store": "offsets live in the checkpoint",
    "auto.offset.reset": "use the 'start' option",
}
_SINK_RESERVED = {
    "bootstrap.servers": "use the 'bootstrap_servers' option",
    "transactional.id": "use the 'transactional_id' option",
    "transaction.timeout.ms": "use the 'transaction_timeout' option",
    "enable.idempotence": "the sink is always idempotent and transactional",
    "acks": "transactions need acks=all",
}


def _repr(config: Any) -> str:
    fields = [f"{f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config)
              if f.name != "client_config"]
    fields.append(f"client_config={mask(config.client_config)!r}")
    return f"{type(config).__name__}({', '.join(fields)})"


def _decoder(config: KafkaSourceConfig, key: str) -> JsonDecoder:
    schema = config.value_schema
    required = list(schema or ()) if config.value_required is None else config.value_required
    return JsonDecoder(schema, required if schema else None,
                       config.value_output if schema else None, key=key,
                       names=("value_schema", "value_required", "value_output"))


def split_partition(name: str) -> tuple[str, int]:
    """``"topic:3"`` -> ``("topic", 3)``; topics may contain dots, not colons."""
    topic, _, part = name.rpartition(":")
    if not topic or not part.isdigit():
        raise ValueError(name)
    return topic, int(part)


@dataclass(repr=False)
class KafkaSourceConfig:
    """Settings of the ``kafka`` source (a direct stream over explicit offset ranges)."""

    bootstrap_servers: str = option(help="brokers to bootstrap from, 'host:port[,host:port]'")
    topics: list[str] = option(help="topics to read; partitions added later are followed")
    start: str | dict[str, int] = option(
        "earliest", help="where partitions without a checkpointed offset start: 'earliest', "
        "'latest', or {'topic:partition': offset} (others start at earliest)")
    key_format: Format = option("str", help="decode keys as bytes, str (UTF-8) or json")
    value_format: Format = option("json", help="decode values as bytes, str (UTF-8) or json")
    isolation: Literal["read_committed", "read_uncommitted"] = option(
        "read_committed", help="read_committed plans up to the last stable offset and skips "
        "aborted transactions")
    group_id: str | None = option(
        None, help="commit processed offsets to this consumer group (for lag tools); "
        "progress itself lives in the checkpoint", identity=False)
    value_only: bool = option(
        True, help="records are decoded values; false: dicts with topic, partition, offset, "
        "key, value, headers, timestamp")
    value_schema: dict[str, str] | None = option(
        None, help="with value_format json: field -> type (int, float, str, bool, list, dict, "
        "any); values are parsed, validated and projected in one C pass, and a value that "
        "does not fit is a dead letter with the decoder's reason")
    value_required: list[str] | None = option(
        None, help="fields of value_schema that must be present and not null (default: all); "
        "the others may be missing or null and come out as null")
    value_output: Literal["dict", "tuple"] = option(
        "dict", help="with value_schema: values as dicts of the schema's fields, or as tuples "
        "in the schema's order")
    metadata_max_age: Duration = option(
        1.0, help="how long a partition listing is reused before topics are listed again",
        identity=False)
    request_timeout: Duration = option(10.0, help="timeout of one metadata/offset request",
                                       identity=False)
    client_config: dict[str, Any] = _client_config_field()

    def value_decoder(self, key: str = "source.kafka") -> JsonDecoder:
        """The JSON decoder of values: untyped, or through ``value_schema``."""
        return _decoder(self, key)

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        _check_bootstrap(self.bootstrap_servers, prefix)
        if not self.topics:
            raise ConfigError(f"{prefix}topics", "at least one topic", self.topics)
        for i, topic in enumerate(self.topics):
            if not topic or ":" in topic or topic.strip() != topic:
                raise ConfigError(f"{prefix}topics[{i}]", "a topic name", topic)
        if isinstance(self.start, str):
            if self.start not in ("earliest", "latest"):
                raise ConfigError(f"{prefix}start", "'earliest', 'latest' or "
                                  "{'topic:partition': offset}", self.start)
        else:
            for name, offset in self.start.items():
                try:
                    topic, _ = split_partition(name)
                except ValueError:
                    raise ConfigError(f"{prefix}start.{name}", "a key 'topic:partition'",
                                      has_value=False) from None
                if topic not in self.topics:
                    raise ConfigError(f"{prefix}start.{name}", f"a partition of one of the "
                                      f"topics {self.topics}", has_value=False)
                if offset < -2:
                    raise ConfigError(f"{prefix}start.{name}", "an offset >= 0 (or -1 latest, "
                                      "-2 earliest)", offset)
        if self.value_schema is not None:
            if self.value_format != "json":
                raise ConfigError(f"{prefix}value_schema", "no schema unless value_format is "
                                  "'json'", self.value_schema)
            self.value_decoder(where)  # a ConfigError naming the field
        _check_reserved(self.client_config, _SOURCE_RESERVED, prefix)
        if self.metadata_max_age < 0 or self.request_timeout <= 0:
            raise ConfigError(f"{prefix}request_timeout", "a positive duration",
                              self.request_timeout)

    def __repr__(self) -> str:
        return _repr(self)


@dataclass(repr=False)
class KafkaSinkConfig:
    """Settings of the ``kafka`` sink (one Kafka transaction per batch)."""

    bootstrap_servers: str = option(help="brokers to bootstrap from, 'host:port[,host:port]'")
    topic: str = option(help="the topic records are written to (it must exist)")
    key_field: str | None = option(
        None, help="records are dicts keyed by this field; without it records are (key, value) "
        "tuples (anything else is written without a key)")
    key_format: Format = option("str", help="encode keys as bytes, str (UTF-8) or json")
    value_format: Format = option("json", help="encode values as bytes, str (UTF-8) or json")
    transactional_id: str | None = option(
        None, help="stable transactional.id; default 'etlcore.<job>.<sink name>'. Two "
        "running copies of one job fence each other through it")
    commit_topic: str | None = option(
        None, help="compacted topic with one marker per committed batch, written in the "
        "batch's transaction; default '<topic>.etlcore-commits' (created if missing)")
    transaction_timeout: Duration = option(
        60.0, help="how long the broker keeps a transaction of a crashed job open at most",
        identity=False)
    request_timeout: Duration = option(10.0, help="timeout of one metadata/transaction request",
                                       identity=False)
    client_config: dict[str, Any] = _client_config_field()

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        _check_bootstrap(self.bootstrap_servers, prefix)
        if not self.topic or ":" in self.topic:
            raise ConfigError(f"{prefix}topic", "a topic name", self.topic)
        if self.key_field == "":
            raise ConfigError(f"{prefix}key_field", "a field name or null", self.key_field)
        _check_reserved(self.client_config, _SINK_RESERVED, prefix)
        if self.transaction_timeout < 1:
            raise ConfigError(f"{prefix}transaction_timeout", "at least 1s",
                              self.transaction_timeout)
        if self.request_timeout <= 0:
            raise ConfigError(f"{prefix}request_timeout", "a positive duration",
                              self.request_timeout)

    def __repr__(self) -> str:
        return _repr(self)
