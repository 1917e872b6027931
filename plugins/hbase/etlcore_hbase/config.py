"""Config schema of the ``hbase`` sink, checked on the driver before a job runs.

This module imports no client library, so ``etlcore plugins`` can show the settings
without happybase installed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

from etlcore.config import option
from etlcore.errors import ConfigError

FieldType = Literal["str", "int", "float", "bool", "bytes", "json"]

# HBase's own limits (HConstants.MAX_ROW_LENGTH, hbase.client.keyvalue.maxsize default).
MAX_ROW_LENGTH = 32767
DEFAULT_MAX_CELL_BYTES = 10 * 1024 * 1024


def template_fields(template: str) -> list[str]:
    """The record fields a row-key template names, in order (``{user}#{ts:012d}`` ->
    ``["user", "ts"]``); raises ValueError for a template Python cannot parse."""
    names = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ValueError(f"field {name!r} is not a plain record field name")
        names.append(name)
    return names


def _family_ok(name: str) -> bool:
    return bool(name) and ":" not in name and name.isprintable() and not name.startswith(".")


@dataclass
class HBaseSinkConfig:
    """Settings of the ``hbase`` sink (puts through the HBase Thrift v1 gateway)."""

    table: str = option(help="target table (namespace:table allowed)")
    host: str = option("127.0.0.1", help="host of the HBase Thrift v1 server")
    port: int = option(9090, help="port of the HBase Thrift v1 server")
    row_key: str | None = option(
        None, help="row-key template over record fields, e.g. '{user}#{window_start}' (Python "
        "format syntax, format specs allowed: '{ts:013d}'); null: append mode, every record "
        "gets its own row keyed by (checkpoint epoch, batch id, partition, position)")
    family: str = option("cf", help="column family of the fields that `columns` does not map")
    columns: dict[str, str] | None = option(
        None, help="field -> 'family:qualifier' (or a bare qualifier in `family`); when given, "
        "only these fields are stored; default: every field as family:field")
    fields: list[str] | None = option(
        None, help="names of the positions of tuple/list records (nested tuples are "
        "flattened: ((window_end, user), n) has three); dict records need none")
    types: dict[str, FieldType] = option(
        {}, help="declared field types (str, int, float, bool, bytes, json); a record whose "
        "value has another type is dead-lettered with the reason")
    int_encoding: Literal["text", "long"] = option(
        "text", help="ints (and floats) as decimal text, or 'long': 8-byte big-endian as "
        "HBase's Bytes.toBytes(long)/(double) (what HBase counters read)")
    create_table: bool = option(
        False, help="create the table, with the families the sink writes, if it is missing")
    max_versions: int = option(1, help="cell versions the table keeps, when the sink creates it")
    batch_size: int = option(1000, help="rows per mutateRows call (a happybase Batch)",
                             identity=False)
    batch_bytes: int = option(4 * 1024 * 1024, help="bytes per mutateRows call, at most",
                              identity=False)
    max_cell_bytes: int = option(
        DEFAULT_MAX_CELL_BYTES, help="largest cell the server takes (its "
        "hbase.client.keyvalue.maxsize); a record with a larger one is dead-lettered")
    timeout: float = option(30.0, help="seconds a Thrift call may take", identity=False)
    transport: Literal["buffered", "framed"] = option(
        "buffered", help="Thrift transport the server was started with", identity=False)
    protocol: Literal["binary", "compact"] = option(
        "binary", help="Thrift protocol the server was started with", identity=False)
    retries: int = option(
        20, help="attempts of a chunk while HBase is unreachable or busy (exponential backoff "
        "with full jitter, at most retry_cap seconds apart); then the batch fails",
        identity=False)
    retry_cap: float = option(5.0, help="longest wait between two attempts, seconds",
                              identity=False)

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.table or not all(c.isalnum() or c in "_-.:" for c in self.table) \
                or self.table.count(":") > 1:
            raise ConfigError(f"{prefix}table", "an HBase table name (letters, digits, _ - . "
                              "and one optional namespace ':')", self.table)
        if not self.host.strip():
            raise ConfigError(f"{prefix}host", "a host name or address", self.host)
        if not 0 < self.port < 65536:
            raise ConfigError(f"{prefix}port", "a port number (1-65535)", self.port)
        if self.row_key is not None:
            try:
                names = template_fields(self.row_key)
            except ValueError as err:
                raise ConfigError(f"{prefix}row_key", f"a template like '{{user}}#{{window}}' "
                                  f"({err})", self.row_key) from None
            if not names:
                raise ConfigError(f"{prefix}row_key", "a template naming at least one record "
                                  "field, e.g. '{user}#{window_start}'", self.row_key)
            if self.fields is not None:
                unknown = [n for n in names if n not in self.fields]
                if unknown:
                    raise ConfigError(f"{prefix}row_key", f"fields among `fields` {self.fields}",
                                      self.row_key)
        if not _family_ok(self.family):
            raise ConfigError(f"{prefix}family", "a column family name (printable, no ':')",
                              self.family)
        for field, target in (self.columns or {}).items():
            family, _, qualifier = target.rpartition(":")
            if (family and not _family_ok(family)) or not qualifier:
                raise ConfigError(f"{prefix}columns.{field}", "'family:qualifier' or a "
                                  "qualifier", target)
        if self.columns is not None and not self.columns:
            raise ConfigError(f"{prefix}columns", "at least one field (or leave it unset to "
                              "store every field)", self.columns)
        if self.fields is not None and (not self.fields or len(set(self.fields)) !=
                                        len(self.fields) or not all(self.fields)):
            raise ConfigError(f"{prefix}fields", "distinct non-empty field names", self.fields)
        if self.max_versions < 1:
            raise ConfigError(f"{prefix}max_versions", "a positive integer", self.max_versions)
        for key in ("batch_size", "batch_bytes", "max_cell_bytes", "retries"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{prefix}{key}", "a positive integer", getattr(self, key))
        for key in ("timeout", "retry_cap"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}", "a positive number of seconds",
                                  getattr(self, key))

    def families(self) -> list[str]:
        """The column families the sink writes to, sorted."""
        found = {self.family} if self.columns is None else set()
        for target in (self.columns or {}).values():
            family, _, _ = target.rpartition(":")
            found.add(family or self.family)
        return sorted(found)
