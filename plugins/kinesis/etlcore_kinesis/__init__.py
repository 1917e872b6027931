"""etlcore-kinesis: a replayable source over Amazon Kinesis Data Streams.

    ctx.source("kinesis", stream_name="clicks", start="trim_horizon", value_format="json")

- :class:`KinesisSource` (driver): shard discovery and planning.
- :class:`KinesisReader` (worker): reads planned sequence-number ranges.

Registered through the ``etlcore`` entry point in pyproject.toml, the same
hook the built-in connectors use. See :mod:`etlcore_kinesis.source` for how
positions make replays exact.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar

if TYPE_CHECKING:
    from etlcore_kinesis.config import KinesisSourceConfig
    from etlcore_kinesis.source import KinesisReader, KinesisSource

__all__ = ["KinesisReader", "KinesisSource", "KinesisSourceConfig", "etlcore_register_sources"]

# re-exports resolved on first access: importing the plugin to register it must not
# import boto3 (the registry imports the connector itself when a job uses it)
_LAZY = {"KinesisReader": "etlcore_kinesis.source", "KinesisSource": "etlcore_kinesis.source",
         "KinesisSourceConfig": "etlcore_kinesis.config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register.source("kinesis", "etlcore_kinesis.source:KinesisSource",
                    "etlcore_kinesis.config:KinesisSourceConfig",
                    "Amazon Kinesis Data Streams, one partition per shard, resharding followed")
