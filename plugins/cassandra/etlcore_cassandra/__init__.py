"""etlcore-cassandra: a sink upserting into Apache Cassandra, exactly once by deterministic keys.

    stream.sink("cassandra", keyspace="shop", table="counts",
                columns={"tag": "text", "window_end": "double", "n": "bigint"},
                primary_key=["tag", "window_end"], create_table=True)

- :class:`~etlcore_cassandra.sink.CassandraSink` (driver): DDL on request, table metadata.
- :class:`~etlcore_cassandra.sink.CassandraWriter` (worker): prepared INSERTs bound per
  record, sent with ``execute_concurrent`` and a bounded number of requests in flight.

The config class lives in :mod:`etlcore_cassandra.config`, which imports no driver, so
``etlcore plugins`` lists the settings without cassandra-driver installed.
"""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar

__version__ = "0.1.0"


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("cassandra", "etlcore_cassandra.sink:CassandraSink",
                  "etlcore_cassandra.config:CassandraSinkConfig",
                  "upsert into a Cassandra table by primary key (exactly once); "
                  "append mode keys rows by (epoch, batch, partition, position)")
