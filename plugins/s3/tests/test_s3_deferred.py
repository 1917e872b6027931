"""The files sink on S3 completes its multipart uploads at commit, not in the task:
a batch's objects do not exist before its commit, and an abort or a replay leaves
no pending upload on the server (MinIO). A writer on the driver hands its last
parts off to the commit."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest
from etlcore_s3.upload import InFlight, Pending

from etlcore.batch import BatchInfo
from etlcore.lineblock import LineBlock
from etlcore.plugin.registry import get_registry
from etlcore.sink import WriterContext

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


def driver_writer(sink: Any, worker: str = "driver") -> Any:
    """The sink's writer as a worker opens it (``worker``: where it runs)."""
    writer = sink.writer()
    writer.open(WriterContext("out", "job", None, worker))
    return writer


def test_a_writer_on_the_driver_hands_off_its_last_parts(sink: Any, s3_client: Any) -> None:
    """The local runner's task ends with its last parts still going up; the commit waits
    for them, then publishes the same bytes as a worker's message would."""
    batch = BatchInfo(0, 1.0)
    block = big_block()
    part = driver_writer(sink).open_part(batch, 0)
    part.write_text(block)
    final, token = part.close()
    assert isinstance(token, InFlight)  # not a Pending: its parts may still be going up
    whole = driver_writer(sink).write(batch, 1, [line.decode() for line in
                                                 block.data.splitlines()])
    assert isinstance(whole[1], InFlight)
    assert keys(s3_client, sink.bucket) == []
    sink.commit(batch, [(final, token), whole])
    held = keys(s3_client, sink.bucket)
    assert len(held) == 3
    for key in held[1:]:
        assert s3_client.get_object(Bucket=sink.bucket, Key=key)["Body"].read() == block.data
    assert pending(s3_client, sink.bucket) == []


def test_a_handed_off_upload_crosses_processes_as_a_pending(sink: Any, s3_client: Any) -> None:
    """Pickled after all, an upload handed off waits for its parts and travels as the
    Pending a worker's writer returns; a worker's writer never hands off."""
    batch = BatchInfo(0, 1.0)
    block = big_block()
    part = driver_writer(sink).open_part(batch, 0)
    part.write_text(block)
    message = pickle.loads(pickle.dumps(part.close()))
    assert type(message[1]) is Pending
    worker = driver_writer(sink, worker="process-1").open_part(batch, 1)
    worker.write_text(block)
    assert type(worker.close()[1]) is Pending
    sink.commit(batch, [message])
    assert s3_client.get_object(Bucket=sink.bucket, Key=message[0].split("/", 3)[3])[
        "Body"].read() == block.data


def test_an_aborted_hand_off_leaves_no_upload(sink: Any, s3_client: Any) -> None:
    batch = BatchInfo(0, 1.0)
    part = driver_writer(sink).open_part(batch, 0)
    part.write_text(big_block())
    message = part.close()
    sink.abort(batch, [message])
    for thread in [t for t in threading.enumerate() if t.name.startswith("etlcore-s3-part")]:
        thread.join(30)
    assert pending(s3_client, sink.bucket) == []
    assert keys(s3_client, sink.bucket) == []
