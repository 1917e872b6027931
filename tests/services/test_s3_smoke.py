"""Smoke tests: the harness's MinIO answers boto3 (paginated listing, multipart, ranges)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.services


def test_put_list_get_and_delete(s3_client: Any, s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    for i in range(20):
        s3_client.put_object(Bucket=bucket, Key=f"in/{i:03d}.txt", Body=f"v{i}".encode())
    pages = s3_client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="in/", PaginationConfig={"PageSize": 7}
    )
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys == [f"in/{i:03d}.txt" for i in range(20)]
    after = s3_client.list_objects_v2(Bucket=bucket, Prefix="in/", StartAfter="in/017.txt")
    assert [o["Key"] for o in after["Contents"]] == ["in/018.txt", "in/019.txt"]
    body = s3_client.get_object(Bucket=bucket, Key="in/012.txt", Range="bytes=1-2")["Body"]
    assert body.read() == b"12"
    s3_client.delete_object(Bucket=bucket, Key="in/012.txt")
    assert s3_client.list_objects_v2(Bucket=bucket, Prefix="in/")["KeyCount"] == 19


def test_multipart_upload(s3_client: Any, s3_bucket_factory: Any) -> None:
    import io

    from boto3.s3.transfer import TransferConfig

    bucket = s3_bucket_factory()
    data = bytes(range(256)) * (11 * 4096 + 3)  # ~11 MiB: three parts of 5 MiB
    config = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    s3_client.upload_fileobj(io.BytesIO(data), bucket, "big", Config=config)
    head = s3_client.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')
    assert s3_client.get_object(Bucket=bucket, Key="big")["Body"].read() == data
