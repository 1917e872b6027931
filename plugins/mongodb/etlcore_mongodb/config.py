"""Config schema of the ``mongodb`` sink, checked before a job runs (imports no client).

A password inside ``uri`` (``mongodb://user:pw@host/``) is taken out of the URI when the
config is built and kept in the secret ``password`` field, so the URI can be shown (in
``repr``, logs and errors) and the password never is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from etlcore.config import option, secret
from etlcore.errors import ConfigError

TYPES = ("int", "float", "number", "str", "bool", "bytes", "list", "dict", "datetime", "null")
MAX_BSON = 16 * 1024 * 1024  # MongoDB's document limit (FerretDB v1 does not enforce it)
_USERINFO = re.compile(r"^(mongodb(?:\+srv)?://)([^@/?#]*)@")
_TRANSIENT_ERRORS = "server selection, connection and socket errors, write-concern errors"


def split_password(uri: str) -> tuple[str, str | None]:
    """``uri`` without the password of its user info, and that password (decoded), if any."""
    m = _USERINFO.match(uri)
    if m is None or ":" not in m.group(2):
        return uri, None
    user, _, password = m.group(2).partition(":")
    return f"{m.group(1)}{user}@{uri[m.end():]}", unquote(password)


@dataclass
class MongoSinkConfig:
    """Settings of the ``mongodb`` sink: idempotent upserts by a deterministic ``_id``."""

    database: str = option(help="database name")
    collection: str = option(help="collection name (created by the first write)")
    uri: str = option("mongodb://127.0.0.1:27017/", help="connection string; a password in it "
                      "is moved to `password` (never shown)")
    username: str | None = option(None, help="user name (or give it in the uri)")
    password: str | None = secret(None, help="password (or give it in the uri); never shown")
    key: list[str] = option([], help="fields whose values make the document _id (one field: "
                            "its value; several: a sub-document {field: value}); a record "
                            "without them is dead-lettered. Empty: _id is the record's position "
                            "'<checkpoint epoch>/<batch>/<partition>/<index>', for append-only "
                            "streams")
    id_format: Literal["native", "string"] = option(
        "native", help="native: _id is the key value (one field) or a sub-document (several); "
        'string: _id is the JSON text of the key value(s), e.g. "42" or ["a",1]. FerretDB '
        "v1 (SQLite) looks up only string and ObjectId _ids by index and scans the whole "
        "collection for any other, so use string there")
    fields: list[str] | None = option(None, help="field names for tuple or scalar records "
                                      "(nested tuples are flattened: ((end, tag), n) is 3 "
                                      "fields); dict records need none")
    operation: Literal["replace", "update"] = option(
        "replace", help="replace: ReplaceOne, the document becomes the record; update: "
        "UpdateOne with $set, fields the record lacks are kept")
    unique_indexes: list[list[str]] = option(
        [], help="unique indexes created when the job starts, each a list of fields; a record "
        "that would duplicate one is dead-lettered with the server's message")
    types: dict[str, str] = option(
        {}, help="expected type of fields: " + ", ".join(TYPES) + "; a record whose field has "
        "another type is dead-lettered (a missing field is allowed)")
    timestamp_field: str | None = option(
        None, help="a field set to the batch's scheduled time (UTC datetime), never the wall "
        "clock, so a replayed batch writes the same value")
    write_concern: dict[str, Any] = option(
        {"w": 1}, help="write concern: w (int or 'majority'), j (bool), wtimeout (ms)")
    non_finite: Literal["dead_letter", "store"] = option(
        "dead_letter", help="NaN and Infinity: dead-letter the record (FerretDB v1 drops the "
        "connection on NaN), or store them")
    max_document_bytes: int = option(MAX_BSON, help="larger encoded documents are "
                                     "dead-lettered (MongoDB's limit is 16 MiB)")
    chunk_records: int = option(500, identity=False, help="operations per bulk_write call")
    max_retries: int = option(10, identity=False, help="retries of a chunk on transient errors "
                              f"({_TRANSIENT_ERRORS}), with exponential backoff and jitter")
    retry_backoff_max: float = option(4.0, identity=False,
                                      help="longest wait between retries, in seconds")
    timeout_ms: int = option(5000, identity=False,
                             help="server selection and connect timeout, in milliseconds")
    socket_timeout_ms: int = option(120000, identity=False,
                                    help="how long one call may wait for the server's reply")

    def __post_init__(self) -> None:
        if isinstance(self.uri, str):
            uri, password = split_password(self.uri)
            if password is not None:  # never kept in the uri, even when it conflicts
                self._two_passwords = self.password is not None and self.password != password
                self.uri, self.password = uri, password if self.password is None else self.password

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""

        def fail(key: str, expected: str, value: Any = None, **kw: Any) -> ConfigError:
            return ConfigError(f"{prefix}{key}", expected, value, **kw)

        if getattr(self, "_two_passwords", False):
            raise fail("password", "a password in uri or in password, not two different ones",
                       has_value=False)
        if not self.uri.startswith(("mongodb://", "mongodb+srv://")):
            raise fail("uri", "a connection string starting with mongodb:// or mongodb+srv://",
                       self.uri)
        if not self.database or any(c in self.database for c in '/\\. "$\x00'):
            raise fail("database", "a database name (no /\\. \"$ or NUL)", self.database)
        if not self.collection or "$" in self.collection or "\x00" in self.collection \
                or self.collection.startswith("system."):
            raise fail("collection", "a collection name (no $ or NUL, not system.*)",
                       self.collection)
        for name in ("key", "fields"):
            names = getattr(self, name) or []
            if any(not n or n.startswith("$") or "\x00" in n for n in names):
                raise fail(name, "field names (not empty, not starting with $)", names)
            if len(set(names)) != len(names):
                raise fail(name, "distinct field names", names)
        if "_id" in self.key and len(self.key) > 1:
            raise fail("key", "either [_id] or fields other than _id", self.key)
        if self.fields is not None and not self.fields:
            raise fail("fields", "at least one field name (or leave it unset)", self.fields)
        for i, index in enumerate(self.unique_indexes):
            if not isinstance(index, list) or not index or \
                    any(not isinstance(f, str) or not f for f in index):
                raise fail(f"unique_indexes[{i}]", "a non-empty list of field names", index)
        for field, kind in self.types.items():
            if kind not in TYPES:
                raise fail(f"types.{field}", "one of " + ", ".join(TYPES), kind)
        if self.timestamp_field is not None and (not self.timestamp_field or
                                                 self.timestamp_field.startswith("$")):
            raise fail("timestamp_field", "a field name", self.timestamp_field)
        self._validate_write_concern(fail)
        if not 1 <= self.max_document_bytes <= 2**31 - 1:
            raise fail("max_document_bytes", "a positive number of bytes",
                       self.max_document_bytes)
        if not 1 <= self.chunk_records <= 100_000:
            raise fail("chunk_records", "an integer from 1 to 100000 (maxWriteBatchSize)",
                       self.chunk_records)
        if self.max_retries < 0:
            raise fail("max_retries", "a non-negative integer", self.max_retries)
        if not (self.retry_backoff_max > 0 and math.isfinite(self.retry_backoff_max)):
            raise fail("retry_backoff_max", "a positive number of seconds",
                       self.retry_backoff_max)
        for name in ("timeout_ms", "socket_timeout_ms"):
            if getattr(self, name) < 1:
                raise fail(name, "a positive number of milliseconds", getattr(self, name))

    def _validate_write_concern(self, fail: Any) -> None:
        wc = self.write_concern
        unknown = sorted(set(wc) - {"w", "j", "wtimeout"})
        if unknown:
            raise fail(f"write_concern.{unknown[0]}", "only w, j and wtimeout", wc[unknown[0]])
        w = wc.get("w", 1)
        if isinstance(w, bool) or not (isinstance(w, str) and w or isinstance(w, int) and w >= 0):
            raise fail("write_concern.w", "a non-negative integer or a tag such as 'majority'", w)
        if "j" in wc and not isinstance(wc["j"], bool):
            raise fail("write_concern.j", "true or false", wc["j"])
        t = wc.get("wtimeout", 0)
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise fail("write_concern.wtimeout", "a non-negative integer (milliseconds)", t)
