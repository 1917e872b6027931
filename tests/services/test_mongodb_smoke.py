"""Smoke tests: the harness's FerretDB answers pymongo, with the fixes the harness builds in."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.services


def test_ping_and_version(mongodb_client: Any) -> None:
    assert mongodb_client.admin.command("ping")["ok"] == 1.0
    assert mongodb_client.server_info()["ferretdbVersion"] == "v1.24.2"  # version.txt fix


def test_bulk_upserts_then_matching_updates(mongodb_client: Any, mongodb_database: str) -> None:
    """The second pass matches every document: the unpatched server hung on it forever."""
    from pymongo import ReplaceOne

    coll = mongodb_client[mongodb_database]["smoke"]
    ops = [ReplaceOne({"_id": i}, {"v": i}, upsert=True) for i in range(300)]
    first = coll.bulk_write(ops, ordered=False)
    assert first.upserted_count == 300
    second = coll.bulk_write([ReplaceOne({"_id": i}, {"v": -i}, upsert=True)
                              for i in range(300)], ordered=False)
    assert (second.matched_count, second.upserted_count) == (300, 0)
    assert coll.count_documents({"v": {"$lte": 0}}) == 300


def test_unique_index_refuses_duplicates(mongodb_client: Any, mongodb_database: str) -> None:
    from pymongo.errors import DuplicateKeyError

    coll = mongodb_client[mongodb_database]["smoke"]
    coll.create_index([("email", 1)], unique=True)
    coll.insert_one({"_id": 1, "email": "a@example.com"})
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": 2, "email": "a@example.com"})
    assert [d["_id"] for d in coll.find()] == [1]


def test_lookups_by_string_id_use_the_id_index(mongodb_client: Any,
                                               mongodb_database: str) -> None:
    """The harness's id-index patch: without it SQLite scans the table for every _id."""
    db = mongodb_client[mongodb_database]
    db["smoke"].insert_many([{"_id": f"k{i}"} for i in range(20)])
    plan = db.command("explain", {"find": "smoke", "filter": {"_id": "k3"}})
    assert plan["filterPushdown"] is True
    assert any("USING INDEX" in step and "__id_" in step
               for step in plan["queryPlanner"]["Plan"]), plan["queryPlanner"]
