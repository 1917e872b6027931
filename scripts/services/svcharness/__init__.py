"""etlcore's service harness: fetch, start, probe and stop the real servers tests need.

Add a service by writing one :class:`Service` subclass and listing it in ``SERVICES``.
"""

from __future__ import annotations

from .base import HarnessError, Service, Status, cache_root, state_root
from .cassandra import Cassandra
from .flume import Flume, FlumeAgent
from .hbase import HBase
from .hdfs import HDFS
from .kafka import Kafka
from .kinesis import Kinesis
from .minio import MinIO
from .mongodb import MongoDB
from .spark import Spark

#: other names a service answers to
ALIASES = {"minio": "s3"}

SERVICES: dict[str, type[Service]] = {
    "cassandra": Cassandra,
    "hbase": HBase,
    "hdfs": HDFS,
    "flume": Flume,
    "kafka": Kafka,
    "kinesis": Kinesis,
    "mongodb": MongoDB,
    "s3": MinIO,
    "spark": Spark,
}


def get(name: str) -> Service:
    """The service called ``name``; raises HarnessError for an unknown name."""
    try:
        return SERVICES[ALIASES.get(name, name)]()
    except KeyError:
        raise HarnessError(f"unknown service {name!r}; known: {', '.join(SERVICES)}") from None


__all__ = [
    "SERVICES",
    "Cassandra",
    "HBase",
    "HDFS",
    "Flume",
    "FlumeAgent",
    "HarnessError",
    "Kafka",
    "Kinesis",
    "MongoDB",
    "MinIO",
    "Service",
    "Spark",
    "Status",
    "cache_root",
    "get",
    "state_root",
]
