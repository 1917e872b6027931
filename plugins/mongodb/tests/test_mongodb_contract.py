"""The mongodb sink under etlcore's contract kit, against FerretDB (the service harness).

Two shapes of key: ``_id`` from record fields (an upsert stream), and ``_id`` from the
record's position (an append-only stream). Each target is its own collection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etlcore.contract import REMOVE, SinkContract, Target
from etlcore.sink import Sink

pytestmark = pytest.mark.services


class MongoContract(SinkContract):
    plugin_name = "mongodb"

    def settings(self) -> dict[str, Any]:
        return {}

    def config(self, path: Path) -> dict[str, Any]:
        uri = self.request.getfixturevalue("mongodb_uri")
        database = self.request.getfixturevalue("mongodb_database")
        return {"uri": uri, "database": database, "collection": path.name, **self.settings()}

    def documents(self, target: Target) -> list[dict[str, Any]]:
        client = self.request.getfixturevalue("mongodb_client")
        cfg = target.config
        return list(client[cfg["database"]][cfg["collection"]].find())

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"uri": "http://127.0.0.1/"}, "uri"), ({"database": "a.b"}, "database"),
                ({"collection": REMOVE}, "collection"), ({"chunk_records": 0}, "chunk_records"),
                ({"types": {"n": "integer"}}, "types.n"),
                ({"write_concern": {"w": -1}}, "write_concern.w"),
                ({"write_concern": {"fsync": True}}, "write_concern.fsync"),
                ({"unique_indexes": [[]]}, "unique_indexes[0]"),
                ({"key": ["a", "a"]}, "key"), ({"operation": "upsert"}, "operation"),
                ({"uri": "mongodb://u:p1@127.0.0.1/", "password": "p2"}, "password")]


class TestMongoSinkByKey(MongoContract):
    """``_id`` from the record's ``id`` field; later batches overwrite earlier documents."""

    def settings(self) -> dict[str, Any]:
        return {"key": ["id"], "types": {"n": "int"}, "max_document_bytes": 4096,
                "chunk_records": 3, "timestamp_field": "at"}

    def sample_batches(self) -> list[list[Any]]:
        first = [{"id": i, "n": i, "tags": ["x"] * (i % 3), "nested": {"k": i}} for i in range(8)]
        second = [{"id": i, "n": 100 + i} for i in range(5, 12)]  # 5..7 overwrite
        return [first, second]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        return self.documents(target)

    def bad_records(self) -> list[Any]:
        return [{"n": 1},                              # no key field
                {"id": None, "n": 2},                  # null key
                {"id": 50, "n": "three"},              # wrong type for the declared field
                {"id": 51, "n": 4, "x": float("nan")},  # NaN (FerretDB drops the connection)
                {"id": 52, "n": 5, "big": 2**70},      # not a BSON integer
                {"id": 53, "n": 6, "blob": "x" * 5000},  # over max_document_bytes
                {"id": 54, "n": 7, "a.b": 1},          # the server refuses the field name
                {"id": [1, 2], "n": 8}]                # an array cannot be an _id


class TestMongoSinkByPosition(MongoContract):
    """No key: ``_id`` is ``<epoch>/<batch>/<partition>/<index>`` (append-only)."""

    def settings(self) -> dict[str, Any]:
        return {"fields": ["user", "n"], "chunk_records": 4}

    def sample_batches(self) -> list[list[Any]]:
        return [[(f"u{i % 3}", i) for i in range(7)], [(f"u{i % 2}", i) for i in range(5)]]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Documents with the epoch (random per checkpoint) cut from the _id."""
        out = []
        for doc in self.documents(target):
            epoch, rest = doc["_id"].split("/", 1)
            assert epoch, doc
            out.append({**doc, "_id": rest})
        return out

    def bad_records(self) -> list[Any]:
        return [("u1",), ("u1", 2, 3), ("u1", float("inf")), 7]  # refused before sending


class TestMongoSinkStringIds(MongoContract):
    """A composite key as a string ``_id`` (``id_format: string``), in update mode."""

    def settings(self) -> dict[str, Any]:
        return {"key": ["user", "day"], "id_format": "string", "operation": "update"}

    def sample_batches(self) -> list[list[Any]]:
        return [[{"user": f"u{i}", "day": i % 2, "n": i} for i in range(6)],
                [{"user": f"u{i}", "day": i % 2, "m": -i} for i in range(3, 8)]]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        docs = self.documents(target)
        assert all(isinstance(d["_id"], str) for d in docs), docs
        return docs

    def bad_records(self) -> list[Any]:
        return [{"user": "u1", "n": 1}, {"user": "u1", "day": float("inf")}]
