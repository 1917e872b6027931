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
