"""etlcore-hbase: an exactly-once sink writing to Apache HBase through its Thrift v1 server.

    stream.sink("hbase", host="127.0.0.1", port=9090, table="clicks",
                row_key="{user}#{window_start}", family="cf", create_table=True)

- :class:`~etlcore_hbase.sink.HBaseSink` (driver): checks or creates the table.
- :class:`~etlcore_hbase.sink.HBaseWriter` (worker): batched, idempotent puts.

Registered through the ``etlcore`` entry point in pyproject.toml. See
:mod:`etlcore_hbase.sink` for why a replayed batch writes exactly the same cells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar

__all__ = ["etlcore_register_sinks"]


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("hbase", "etlcore_hbase.sink:HBaseSink",
                  "etlcore_hbase.config:HBaseSinkConfig",
                  "Apache HBase via its Thrift v1 server: idempotent puts, batch time as the "
                  "cell timestamp")
