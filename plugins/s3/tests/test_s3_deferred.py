"""The files sink on S3 completes its multipart uploads at commit, not in the task:
a batch's objects do not exist before its commit, and an abort or a replay leaves
no pending upload on the server (MinIO)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from etlcore.batch import BatchInfo
from etlcore.lineblock import LineBlock
from etlcore.plugin.registry import get_registry

pytestmark = pytest.mark.services

PART = 5 * 1024 * 1024  # S3's smallest part
LINE = b"x" * 99 + b"\n"


def pending(client: Any, bucket: str) -> list[Any]:
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def keys(client: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def big_block(fill: bytes = LINE) -> LineBlock:
    count = 2 * PART // len(fill) + 1  # two parts and a bit: a multipart upload
    return LineBlock(fill * count, count=count, text=True)


@pytest.fixture
def sink(s3_settings: dict[str, Any], s3_bucket_factory: Any) -> Any:
    bucket = s3_bucket_factory()
    built = get_registry().get("sink", "s3").build(
        {**s3_settings, "path": f"s3://{bucket}/o", "format": "text",
         "multipart_threshold": PART, "multipart_chunksize": PART})
    built.bucket = bucket
    return built


def write_batch(sink: Any, batch: BatchInfo, block: LineBlock) -> list[Any]:
    """Partition 0 streamed (open_part), partition 1 in one ``write``; the messages,
    pickled and back, as they travel from a worker of the processes runner."""
    writer = pickle.loads(pickle.dumps(sink.writer()))
    part = writer.open_part(batch, 0)
    part.write_text(block)
    streamed = part.close()
    whole = writer.write(batch, 1, [line.decode() for line in block.data.splitlines()])
    return pickle.loads(pickle.dumps([streamed, whole]))


def test_a_batch_is_invisible_until_its_commit(sink: Any, s3_client: Any) -> None:
    batch = BatchInfo(0, 1.0)
    block = big_block()
    messages = write_batch(sink, batch, block)
    assert keys(s3_client, sink.bucket) == []  # no object, no manifest
    assert len(pending(s3_client, sink.bucket)) == 2  # the parts wait on the server
    sink.commit(batch, messages)
    held = keys(s3_client, sink.bucket)
    assert held == ["o/_manifests/batch-000000000000.json",
                    "o/batch-000000000000/part-00000.txt",
                    "o/batch-000000000000/part-00001.txt"]
    for key in held[1:]:
        assert s3_client.get_object(Bucket=sink.bucket, Key=key)["Body"].read() == block.data
    assert pending(s3_client, sink.bucket) == []


def test_an_aborted_batch_leaves_no_pending_upload(sink: Any, s3_client: Any) -> None:
    batch = BatchInfo(0, 1.0)
    messages = write_batch(sink, batch, big_block())
    assert len(pending(s3_client, sink.bucket)) == 2
    sink.abort(batch, messages)
    assert pending(s3_client, sink.bucket) == []
    assert keys(s3_client, sink.bucket) == []


def test_a_replay_drops_the_killed_attempts_uploads(sink: Any, s3_client: Any) -> None:
    write_batch(sink, BatchInfo(0, 1.0), big_block(b"a" * 99 + b"\n"))  # never committed
    replay = BatchInfo(0, 1.0, replay=True)
    block = big_block()
    messages = write_batch(sink, replay, block)
    assert len(pending(s3_client, sink.bucket)) == 4  # both attempts' uploads
    sink.commit(replay, messages)
    assert pending(s3_client, sink.bucket) == []
    body = s3_client.get_object(Bucket=sink.bucket,
                                Key="o/batch-000000000000/part-00000.txt")["Body"].read()
    assert body == block.data
