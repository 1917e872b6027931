"""etlcore-flume: a push source Flume agents deliver to over Avro RPC.

    ctx.source("flume", port=41414, receivers=2, format="json")

- :class:`FlumeSource` (driver): one Avro RPC receiver and logged partition per port.
- :mod:`etlcore_flume.server`: the AvroSourceProtocol server (usable on its own).

Registered through the ``etlcore`` entry point in pyproject.toml; the avro
libraries are imported only when a job uses the source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register.source("flume", "etlcore_flume.source:FlumeSource",
                    "etlcore_flume.config:FlumeSourceConfig",
                    "Flume agents' avro sinks deliver here (Avro RPC), one partition per port")
