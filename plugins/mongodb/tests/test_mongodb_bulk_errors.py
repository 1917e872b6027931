"""How the writer reads MongoDB's BulkWriteError, record by record (no server needed).

FerretDB v1 never answers a bulk write with usable ``writeErrors`` (see the sink's
docstring), so the replies MongoDB sends are played here by a stand-in collection that
raises pymongo's own ``BulkWriteError`` with MongoDB-shaped details: refused records reach
the dead letters with the server's message, transient ones are sent again (alone), and the
rest is stored once.
"""

from __future__ import annotations

from typing import Any

import pytest
from etlcore_mongodb.config import MongoSinkConfig
from etlcore_mongodb.sink import STATS, MongoWriter
from pymongo.errors import AutoReconnect, BulkWriteError

from etlcore.batch import BatchInfo
from etlcore.config import parse_config
from etlcore.sink import WriteResult


class FakeCollection:
    """Plays scripted replies: each call pops the next one (an exception or None)."""

    def __init__(self, replies: list[Any]):
        self.replies = replies
        self.calls: list[list[Any]] = []  # the _ids of each bulk_write

    def bulk_write(self, ops: list[Any], ordered: bool = True) -> None:
        assert ordered is False
        self.calls.append([op._filter["_id"] for op in ops])
        reply = self.replies.pop(0) if self.replies else None
        if reply is not None:
            raise reply


def writer(collection: FakeCollection, **settings: Any) -> MongoWriter:
    config = parse_config(MongoSinkConfig, {"database": "d", "collection": "c", "key": ["k"],
                                            "retry_backoff_max": 0.01, **settings}, "sink")
    w = MongoWriter(config, "job")
    w.connect()  # a lazy client: no connection is made
    w.collection = collection
    return w


def bulk_error(*write_errors: dict[str, Any], concern: bool = False) -> BulkWriteError:
    return BulkWriteError({"writeErrors": list(write_errors), "writeConcernErrors":
                           [{"code": 64, "errmsg": "waiting for replication timed out"}]
                           if concern else [], "nInserted": 0, "nUpserted": 0, "nMatched": 0,
                           "nModified": 0, "nRemoved": 0, "upserted": []})


def test_refused_dead_lettered_transient_retried_rest_stored_once() -> None:
    coll = FakeCollection([bulk_error(
        {"index": 1, "code": 11000, "keyPattern": {"email": 1},
         "errmsg": "E11000 duplicate key error collection: d.c index: email_1 dup key"},
        {"index": 2, "code": 11000, "keyPattern": {"_id": 1},  # an upsert race on _id
         "errmsg": "E11000 duplicate key error collection: d.c index: _id_ dup key"},
        {"index": 3, "code": 91, "errmsg": "The server is in quiesce mode"},
        {"index": 4, "code": 2, "errmsg": "unknown operator: $foo"})])
    w = writer(coll)
    records = [{"k": i, "email": f"e{i}"} for i in range(6)]
    before = STATS["transient_errors"]
    result = w.write(BatchInfo(0, 1.0), 0, records)
    assert isinstance(result, WriteResult)
    reasons = {r["k"]: why for r, why in result.rejected}
    assert set(reasons) == {1, 4}
    assert "index: email_1" in reasons[1] and "(code 11000)" in reasons[1]
    assert "unknown operator" in reasons[4]
    assert coll.calls == [[0, 1, 2, 3, 4, 5], [2, 3]]  # only the transient ones again
    assert STATS["transient_errors"] == before + 1


def test_write_concern_error_sends_the_chunk_again() -> None:
    coll = FakeCollection([bulk_error(concern=True)])
    result = writer(coll).write(BatchInfo(0, 1.0), 0, [{"k": 1}, {"k": 2}])
    assert result == 2 and coll.calls == [[1, 2], [1, 2]]


def test_connection_errors_retry_until_the_server_answers() -> None:
    coll = FakeCollection([AutoReconnect("connection refused")] * 3)
    assert writer(coll).write(BatchInfo(0, 1.0), 0, [{"k": 1}]) == 1
    assert len(coll.calls) == 4


def test_gives_up_after_max_retries() -> None:
    coll = FakeCollection([AutoReconnect("connection refused")] * 10)
    with pytest.raises(AutoReconnect) as err:
        writer(coll, max_retries=2).write(BatchInfo(0, 1.0), 0, [{"k": 1}])
    assert len(coll.calls) == 3
    assert "gave up after 3 attempts" in "".join(getattr(err.value, "__notes__", []))


def test_a_password_in_the_uri_moves_to_the_secret_field() -> None:
    from etlcore_mongodb.config import split_password

    from etlcore.errors import ConfigError
    from etlcore.plugin.redact import config_repr

    assert split_password("mongodb://u:p%40ss@h1:1,h2:2/db?tls=true") == (
        "mongodb://u@h1:1,h2:2/db?tls=true", "p@ss")
    assert split_password("mongodb+srv://u:x@c.example.net/") == ("mongodb+srv://u@c.example.net/",
                                                                    "x")
    assert split_password("mongodb://u@h/") == ("mongodb://u@h/", None)
    assert split_password("mongodb://h/?authSource=a@b") == ("mongodb://h/?authSource=a@b", None)
    config = parse_config(MongoSinkConfig, {"database": "d", "collection": "c",
                                            "uri": "mongodb://u:hunter2@h/"}, "sink")
    assert (config.uri, config.password) == ("mongodb://u@h/", "hunter2")
    assert "hunter2" not in config_repr(config) and "hunter2" not in repr(config)
    with pytest.raises(ConfigError) as err:
        parse_config(MongoSinkConfig, {"database": "d", "collection": "c", "password": "other",
                                       "uri": "mongodb://u:hunter2@h/"}, "sink")
    assert err.value.key == "sink.password" and "hunter2" not in str(err.value)
