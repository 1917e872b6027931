"""etlcore's service harness: fetch, start, probe and stop the real servers tests need.

Add a service by writing one :class:`Service` subclass and listing it in ``SERVICES``.
"""

from __future__ import annotations

from .base import HarnessError, Service, Status, cache_root, state_root
from .hbase import HBase
from .kafka import Kafka
from .kinesis import Kinesis
from .minio import MinIO
from .spark import Spark

#: other names a service answers to
ALIASES = {"minio": "s3"}

SERVICES: dict[str, type[Service]] = {
    "hbase": HBase,
    "kafka": Kafka,
    "kinesis": Kinesis,
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
    "HBase",
    "HarnessError",
    "Kafka",
    "Kinesis",
    "MinIO",
    "Service",
    "Spark",
    "Status",
    "cache_root",
    "get",
    "state_root",
]
