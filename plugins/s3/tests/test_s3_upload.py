"""Objects written in parts while their writer produces the rest (``PartUpload``), on MinIO."""

from __future__ import annotations

import os
from typing import Any

import pytest
from etlcore_s3.config import S3Options
from etlcore_s3.fs import S3FileSystem

pytestmark = pytest.mark.services

PART = 5 * 1024 * 1024  # S3's smallest part


@pytest.fixture
def fs(s3_settings: dict[str, Any]) -> S3FileSystem:
    return S3FileSystem(S3Options(multipart_chunksize=PART, multipart_threshold=PART,
                                  max_concurrency=2, **s3_settings))


def pending(client: Any, bucket: str) -> list[Any]:
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.mark.parametrize("sizes", [[], [10], [PART - 1, 1], [3 * PART + 7],
                                   [1_000_000] * 17 + [5]])
def test_chunks_make_the_object_they_were_written_as(sizes: list[int], fs: S3FileSystem,
                                                     s3_client: Any,
                                                     s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    chunks = [os.urandom(n) for n in sizes]
    upload = fs.upload(f"s3://{bucket}/obj")
    for chunk in chunks:
        upload.write(chunk)
    assert not fs.exists(f"s3://{bucket}/obj") or not chunks  # nothing visible before close
    upload.close()
    body = s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert body == b"".join(chunks)
    etag = s3_client.head_object(Bucket=bucket, Key="obj")["ETag"]
    total = sum(sizes)
    # the parts: one PutObject below a part, else one part per gathered part's worth
    assert ("-" in etag) == (total >= PART)
    assert pending(s3_client, bucket) == []


def test_abort_leaves_no_object_and_no_parts(fs: S3FileSystem, s3_client: Any,
                                             s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    upload = fs.upload(f"s3://{bucket}/obj")
    upload.write(os.urandom(2 * PART + 3))  # two parts on their way
    upload.abort()
    assert not fs.exists(f"s3://{bucket}/obj")
    assert pending(s3_client, bucket) == []


def test_a_failed_part_aborts_the_upload_and_names_the_object(
        fs: S3FileSystem, s3_client: Any, s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    upload = fs.upload(f"s3://{bucket}/obj")
    upload.write(os.urandom(PART))
    s3_client.abort_multipart_upload(Bucket=bucket, Key="obj",
                                     UploadId=upload.upload_id)  # type: ignore[attr-defined]
    upload.write(os.urandom(PART))  # this part's upload no longer exists
    with pytest.raises(Exception, match="NoSuchUpload") as failed:
        upload.close()
    assert f"the upload of s3://{bucket}/obj failed" in "\n".join(failed.value.__notes__)
    assert not fs.exists(f"s3://{bucket}/obj")
    assert pending(s3_client, bucket) == []


@pytest.mark.parametrize("sizes", [[], [10], [PART + 1], [3 * PART + 7]])
def test_an_upload_started_on_expect_stores_what_came(sizes: list[int], fs: S3FileSystem,
                                                     s3_client: Any,
                                                     s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    chunks = [os.urandom(n) for n in sizes]
    upload = fs.upload(f"s3://{bucket}/obj")
    assert upload.expect(4 * PART)  # the multipart upload is created before any byte
    assert upload.upload_id is not None  # type: ignore[attr-defined]  # (waits for it)
    assert len(pending(s3_client, bucket)) == 1
    for chunk in chunks:
        upload.write(chunk)
    upload.close()
    body = s3_client.get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert body == b"".join(chunks)
    etag = s3_client.head_object(Bucket=bucket, Key="obj")["ETag"]
    assert ("-" in etag) == bool(chunks)  # a short one went up as the upload's one part
    assert pending(s3_client, bucket) == []


def test_expect_below_a_part_or_after_the_first_part_starts_nothing(
        fs: S3FileSystem, s3_client: Any, s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    small = fs.upload(f"s3://{bucket}/small")
    assert not small.expect(PART - 1)
    assert pending(s3_client, bucket) == []
    small.write(b"x")
    small.close()
    assert "-" not in s3_client.head_object(Bucket=bucket, Key="small")["ETag"]  # one PUT
    large = fs.upload(f"s3://{bucket}/large")
    large.write(os.urandom(PART))
    assert not large.expect(4 * PART)  # already under way
    large.close()
    assert pending(s3_client, bucket) == []


def test_abort_after_expect_leaves_no_object_and_no_upload(
        fs: S3FileSystem, s3_client: Any, s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    upload = fs.upload(f"s3://{bucket}/obj")
    assert upload.expect(PART)
    assert upload.upload_id is not None  # type: ignore[attr-defined]
    upload.abort()
    assert not fs.exists(f"s3://{bucket}/obj")
    assert pending(s3_client, bucket) == []


def test_the_files_sink_starts_a_partition_early_after_a_large_one(
        s3_client: Any, s3_bucket_factory: Any, s3_settings: dict[str, Any]) -> None:
    """A partition whose last file went in parts starts its next upload before its first
    bytes; the files are those of a late start, and an empty one is still no file."""
    from etlcore.batch import BatchInfo
    from etlcore.lineblock import LineBlock
    from etlcore.plugin.registry import get_registry

    bucket = s3_bucket_factory()
    sink = get_registry().get("sink", "s3").build(
        {**s3_settings, "path": f"s3://{bucket}/o", "format": "text",
         "multipart_threshold": PART})
    writer = sink.writer()
    line = b"x" * 99 + b"\n"
    big = LineBlock(line * (PART // 100 + 1), count=PART // 100 + 1, text=True)
    started: list[bool] = []
    for batch_id, blocks in enumerate([[big], [], [LineBlock(line, count=1, text=True)], [big, big]]):
        part = writer.open_part(BatchInfo(batch_id, 1.0), 0)
        assert part is not None
        started.append(part.upload is not None)  # type: ignore[attr-defined]
        for block in blocks:
            part.write_text(block)
        message = part.close()
        if message is not None:
            sink.commit(BatchInfo(batch_id, 1.0), [message])
        key = f"o/batch-{batch_id:012d}/part-00000.txt"
        held = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if blocks:
            assert message[0] == f"s3://{bucket}/{key}"
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert body == b"".join(b.data for b in blocks)
        else:
            assert message is None and key not in held
        assert pending(s3_client, bucket) == []
    assert started == [False, True, False, False]  # after a large one; an empty; a short
