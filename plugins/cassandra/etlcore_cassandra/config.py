"""Config schema of the ``cassandra`` sink, checked on the driver before a job runs.

Imports no driver: ``etlcore plugins`` reads it to list the settings. The config
travels to workers inside each writer (credentials included, never printed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from etlcore.config import option, secret
from etlcore.errors import ConfigError

#: cassandra.ConsistencyLevel names (kept here so this module needs no driver)
CONSISTENCY_LEVELS = ("ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM",
                      "EACH_QUORUM", "LOCAL_ONE")
#: the columns append mode adds: the deterministic key of a record without one
APPEND_KEY = {"etl_epoch": "text", "etl_batch": "bigint", "etl_partition": "int",
              "etl_position": "int"}
APPEND_PRIMARY_KEY: list[str | list[str]] = [["etl_epoch", "etl_batch", "etl_partition"],
                                             "etl_position"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_<>, ]*$")


def flat_key(primary_key: list[str | list[str]]) -> list[str]:
    """``[["a", "b"], "c"]`` -> ``["a", "b", "c"]``: every primary key column, in order."""
    out: list[str] = []
    for part in primary_key:
        out.extend([part] if isinstance(part, str) else part)
    return out


@dataclass
class CassandraSinkConfig:
    """Settings of the ``cassandra`` sink."""

    keyspace: str = option(help="keyspace of the table")
    table: str = option(help="the target table")
    contact_points: list[str] = option(
        ["127.0.0.1"], help="hosts to contact first ('host' or 'host:port')")
    port: int = option(9042, help="CQL native port of hosts given without one")
    mode: Literal["upsert", "append"] = option(
        "upsert", help="upsert: a record replaces the row of its primary key (taken from the "
        "record's fields); append: every record is a new row keyed by (checkpoint epoch, "
        "batch id, partition, position), columns etl_epoch, etl_batch, etl_partition, "
        "etl_position (needs a checkpoint)")
    columns: dict[str, str] | None = option(
        None, help="declared schema, column -> CQL type ({'tag': 'text', 'n': 'bigint'}), in "
        "order (tuple records fill them positionally); default: read from the table")
    primary_key: list[str | list[str]] | None = option(
        None, help="with columns (upsert mode): primary key columns, partition key first; a "
        "list as first item is a composite partition key: [[a, b], c]")
    key: list[str] | None = option(
        None, help="record fields making the deterministic key (upsert mode); they must be "
        "the table's primary key columns; default: the primary key")
    create_keyspace: bool = option(False, help="create the keyspace if missing (replication)")
    replication: dict[str, str | int] = option(
        {"class": "SimpleStrategy", "replication_factor": 1},
        help="replication map of a keyspace created with create_keyspace")
    create_table: bool = option(
        False, help="create the table if missing from columns and primary_key")
    consistency: str = option("LOCAL_QUORUM", help="consistency level of the writes: "
                              + ", ".join(CONSISTENCY_LEVELS))
    ttl: int | None = option(None, help="seconds the written cells live (USING TTL); none: "
                             "forever")
    write_timestamp: Literal["batch_time", "server"] = option(
        "batch_time", help="cell timestamp: batch_time (microseconds of the batch's scheduled "
        "time, USING TIMESTAMP: a replay writes the very same cell versions and a later batch "
        "always wins) or server (the coordinator's clock). With batch_time, rows written "
        "before by a job with later batch times (a wall-clock job vs a manual clock) win")
    extra_fields: Literal["dead_letter", "ignore"] = option(
        "dead_letter", help="record fields that are not columns: dead-letter the record, or "
        "ignore the fields")
    concurrency: int = option(64, help="requests in flight per writer (execute_concurrent)")
    chunk_records: int = option(5000, help="records sent per execute_concurrent call")
    request_timeout: float = option(10.0, help="seconds one request may take")
    connect_timeout: float = option(10.0, help="seconds to open a connection")
    retry_for: float = option(
        120.0, help="seconds a write keeps being retried (backoff with jitter) while the "
        "cluster times out, is unavailable or unreachable; then the batch fails")
    retry_cap: float = option(2.0, help="longest wait in seconds between two retries")
    username: str | None = secret(None, help="user for password authentication (never "
                                  "printed, like the password)")
    password: str | None = secret(None, help="password for password authentication")
    protocol_version: int | None = option(None, help="native protocol version (default: "
                                          "negotiated)")

    def validate(self, where: str) -> None:
        p = f"{where}." if where else ""
        for name in ("keyspace", "table"):
            if not _NAME.match(getattr(self, name)):
                raise ConfigError(f"{p}{name}", "a CQL name: a lowercase letter, then "
                                  "lowercase letters, digits or _ (at most 48)",
                                  getattr(self, name))
        if not self.contact_points:
            raise ConfigError(f"{p}contact_points", "at least one host", self.contact_points)
        for i, host in enumerate(self.contact_points):
            name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
            if not name.strip() or (port and not port.isdigit()):
                raise ConfigError(f"{p}contact_points[{i}]", "'host' or 'host:port'", host)
        if not 0 < self.port < 65536:
            raise ConfigError(f"{p}port", "a port number (1-65535)", self.port)
        if self.columns is not None:
            if not self.columns:
                raise ConfigError(f"{p}columns", "at least one column", self.columns)
            for col, cql in self.columns.items():
                if not _NAME.match(col):
                    raise ConfigError(f"{p}columns.{col}", "a column name: a lowercase letter, then "
                                      "lowercase letters, digits or _", col)
                if not _TYPE.match(cql):
                    raise ConfigError(f"{p}columns.{col}", "a CQL type such as text, bigint, "
                                      "double, list<int>", cql)
        self._validate_keys(p)
        if self.consistency.upper() not in CONSISTENCY_LEVELS:
            raise ConfigError(f"{p}consistency", "one of " + ", ".join(CONSISTENCY_LEVELS),
                              self.consistency)
        if self.ttl is not None and not 0 < self.ttl <= 630720000:
            raise ConfigError(f"{p}ttl", "seconds from 1 to 630720000 (20 years), or null",
                              self.ttl)
        for name in ("concurrency", "chunk_records"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{p}{name}", "a positive integer", getattr(self, name))
        for name in ("request_timeout", "connect_timeout", "retry_cap"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{p}{name}", "a positive number of seconds",
                                  getattr(self, name))
        if self.retry_for < 0:
            raise ConfigError(f"{p}retry_for", "seconds, 0 or more", self.retry_for)
        if (self.username is None) != (self.password is None):
            raise ConfigError(f"{p}password", "username and password given together, or "
                              "neither", has_value=False)
        if self.protocol_version is not None and not 3 <= self.protocol_version <= 6:
            raise ConfigError(f"{p}protocol_version", "3, 4, 5 or 6", self.protocol_version)

    def _validate_keys(self, p: str) -> None:
        if self.mode == "append":
            for name in ("key", "primary_key"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{p}{name}", "nothing in append mode (rows are keyed by "
                                      "etl_epoch, etl_batch, etl_partition, etl_position)",
                                      getattr(self, name))
            if self.columns is not None and set(self.columns) & set(APPEND_KEY):
                raise ConfigError(f"{p}columns", "no column named like the append key "
                                  f"({', '.join(APPEND_KEY)})", list(self.columns))
            if self.create_table and self.columns is None:
                raise ConfigError(f"{p}columns", "the declared columns (create_table is on)",
                                  has_value=False)
            return
        pk = flat_key(self.primary_key) if self.primary_key is not None else None
        if self.primary_key is not None:
            if not pk or (not isinstance(self.primary_key[0], str) and
                          not self.primary_key[0]):
                raise ConfigError(f"{p}primary_key", "at least one partition key column",
                                  self.primary_key)
            if any(not isinstance(part, str) for part in self.primary_key[1:]):
                raise ConfigError(f"{p}primary_key", "only the first item may be a list "
                                  "(the composite partition key)", self.primary_key)
            if len(set(pk)) != len(pk):
                raise ConfigError(f"{p}primary_key", "distinct columns", self.primary_key)
            if self.columns is None:
                raise ConfigError(f"{p}columns", "the declared columns (primary_key is given)",
                                  has_value=False)
            missing = [c for c in pk if c not in self.columns]
            if missing:
                raise ConfigError(f"{p}primary_key", f"declared columns (not: {missing})",
                                  self.primary_key)
        elif self.columns is not None:
            raise ConfigError(f"{p}primary_key", "the primary key of the declared columns",
                              has_value=False)
        if self.create_table and pk is None:
            raise ConfigError(f"{p}primary_key", "columns and primary_key (create_table is on)",
                              has_value=False)
        if self.key is not None:
            if not self.key or len(set(self.key)) != len(self.key):
                raise ConfigError(f"{p}key", "distinct field names, at least one", self.key)
            if pk is not None and set(self.key) != set(pk):
                raise ConfigError(f"{p}key", f"the primary key columns {pk} (Cassandra upserts "
                                  "by primary key)", self.key)
