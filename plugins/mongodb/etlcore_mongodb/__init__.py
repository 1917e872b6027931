"""etlcore-mongodb: a sink upserting into a MongoDB collection, exactly once.

    stream.sink("mongodb", uri="mongodb://127.0.0.1:27017/", database="shop",
                collection="orders", key=["order_id"])

- :class:`~etlcore_mongodb.sink.MongoSink` (driver): creates unique indexes on request.
- :class:`~etlcore_mongodb.sink.MongoWriter` (worker): ``bulk_write`` of upserts by a
  deterministic ``_id``; refused records go to the dead letters with the server's message.

Registered through the ``etlcore`` entry point in pyproject.toml. The sink and pymongo are
imported only when a job uses the name (``etlcore plugins`` needs neither).
"""

from __future__ import annotations

from etlcore.plugin.hookspecs import hookimpl
from etlcore.plugin.registry import Registrar

__all__ = ["etlcore_register_sinks"]


@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("mongodb", "etlcore_mongodb.sink:MongoSink",
                  "etlcore_mongodb.config:MongoSinkConfig",
                  "upserts into a MongoDB collection by a deterministic _id, exactly once")
