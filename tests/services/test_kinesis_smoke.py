"""Smoke tests: the harness's kinesalite answers boto3, resharding included."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.fixtures.kinesis import wait_stream_active

pytestmark = pytest.mark.services


def _read_shard(client: Any, stream: str, shard_id: str) -> list[bytes]:
    it = client.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: list[bytes] = []
    while it:
        resp = client.get_records(ShardIterator=it, Limit=100)
        out.extend(r["Data"] for r in resp["Records"])
        if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
            break
        it = resp.get("NextShardIterator")
    return out


def _put(client: Any, stream: str, values: list[bytes]) -> None:
    resp = client.put_records(
        StreamName=stream,
        Records=[{"Data": v, "PartitionKey": f"pk-{i}"} for i, v in enumerate(values)],
    )
    assert resp["FailedRecordCount"] == 0


def test_put_and_get_records(kinesis_client: Any, kinesis_stream: str) -> None:
    shards = kinesis_client.list_shards(StreamName=kinesis_stream)["Shards"]
    assert len(shards) == 2
    sent = [f"rec-{i}".encode() for i in range(40)]
    _put(kinesis_client, kinesis_stream, sent)
    got = [d for s in shards for d in _read_shard(kinesis_client, kinesis_stream, s["ShardId"])]
    assert sorted(got) == sorted(sent)
    assert all(_read_shard(kinesis_client, kinesis_stream, s["ShardId"]) for s in shards)


def test_split_shard(kinesis_client: Any, kinesis_stream: str) -> None:
    _put(kinesis_client, kinesis_stream, [b"before-0", b"before-1", b"before-2"])
    parent = kinesis_client.list_shards(StreamName=kinesis_stream)["Shards"][0]
    lo = int(parent["HashKeyRange"]["StartingHashKey"])
    hi = int(parent["HashKeyRange"]["EndingHashKey"])
    kinesis_client.split_shard(
        StreamName=kinesis_stream,
        ShardToSplit=parent["ShardId"],
        NewStartingHashKey=str((lo + hi) // 2),
    )
    wait_stream_active(kinesis_client, kinesis_stream)

    shards = kinesis_client.list_shards(StreamName=kinesis_stream)["Shards"]
    assert len(shards) == 4
    children = [s for s in shards if s.get("ParentShardId") == parent["ShardId"]]
    assert len(children) == 2
    closed = next(s for s in shards if s["ShardId"] == parent["ShardId"])
    assert "EndingSequenceNumber" in closed["SequenceNumberRange"]

    after = [f"after-{i}".encode() for i in range(20)]
    _put(kinesis_client, kinesis_stream, after)
    open_ids = [
        s["ShardId"] for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]
    ]
    assert parent["ShardId"] not in open_ids
    got_after = [d for sid in open_ids for d in _read_shard(kinesis_client, kinesis_stream, sid)]
    assert sorted(d for d in got_after if d.startswith(b"after")) == sorted(after)
    every = [d for s in shards for d in _read_shard(kinesis_client, kinesis_stream, s["ShardId"])]
    assert sorted(every) == sorted([b"before-0", b"before-1", b"before-2", *after])
