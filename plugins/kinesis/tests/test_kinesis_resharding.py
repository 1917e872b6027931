"""Resharding while a job runs: parents are read to their end before their children."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kinesis_testlib import assert_shard_order, numbered, put

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from tests.services.fixtures.kinesis import wait_stream_active

pytestmark = pytest.mark.services

BEFORE = 240
AFTER = 160


def _split(client: Any, stream: str) -> set[str]:
    parent = client.list_shards(StreamName=stream)["Shards"][0]
    lo = int(parent["HashKeyRange"]["StartingHashKey"])
    hi = int(parent["HashKeyRange"]["EndingHashKey"])
    client.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"],
                       NewStartingHashKey=str((lo + hi) // 2))
    return {parent["ShardId"]}


def _merge(client: Any, stream: str) -> set[str]:
    first, second = client.list_shards(StreamName=stream)["Shards"][:2]
    client.merge_shards(StreamName=stream, ShardToMerge=first["ShardId"],
                        AdjacentShardToMerge=second["ShardId"])
    return {first["ShardId"], second["ShardId"]}


@pytest.mark.parametrize(("shards", "reshard"), [(1, _split), (2, _merge)], ids=["split", "merge"])
def test_reshard_mid_job_keeps_parent_before_child(
    kinesis_client: Any, kinesis_stream_factory: Any, source_config: dict[str, Any],
    shards: int, reshard: Any,
) -> None:
    stream = kinesis_stream_factory(shards=shards)
    put(kinesis_client, stream, numbered(0, BEFORE, tag="before"))
    commits: list[tuple[int, float]] = []
    ctx = StreamingContext("50ms", max_rate_per_partition=400)  # 20/shard/batch: slow drain
    ctx.add_listener(lambda m: commits.append((m.batch_id, time.monotonic())))
    (ctx.source("kinesis", **source_config, stream_name=stream, value_format="json",
                value_only=False)
        .sink("memory", name="reshard"))
    ctx.start()
    try:
        while not commits:  # the job is reading the parent(s)
            time.sleep(0.01)
        parents = reshard(kinesis_client, stream)
        wait_stream_active(kinesis_client, stream)
        put(kinesis_client, stream, numbered(BEFORE, AFTER, tag="after"))
        children_have_data = time.monotonic()
        deadline = time.monotonic() + 30
        while len(MemorySink.results("reshard")) < BEFORE + AFTER:
            assert time.monotonic() < deadline, "job did not catch up"
            time.sleep(0.05)
    finally:
        ctx.stop()
        ctx.await_termination(10)

    batches = MemorySink.batches("reshard")
    got = [(batch_id, r) for batch_id, records in batches.items() for r in records]
    assert sorted(r["data"]["i"] for _, r in got) == list(range(BEFORE + AFTER))
    assert_shard_order([r for _, r in got])
    assert {r["shard"] for _, r in got if r["data"]["tag"] == "before"} == parents
    assert not {r["shard"] for _, r in got if r["data"]["tag"] == "after"} & parents
    last_parent_batch = max(b for b, r in got if r["shard"] in parents)
    first_child_batch = min(b for b, r in got if r["shard"] not in parents)
    assert last_parent_batch < first_child_batch
    # the gate mattered: the children held records while a parent was still being read
    parent_commit = dict(commits)[last_parent_batch]
    assert parent_commit > children_have_data
    for key in {r["data"]["k"] for _, r in got}:  # per key: every parent record first
        tags = [r["data"]["tag"] for _, r in got if r["data"]["k"] == key]
        assert tags == sorted(tags, key=lambda t: t != "before"), key

