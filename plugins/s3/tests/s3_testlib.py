"""Helpers of the S3 tests: upload inputs, read back what a sink published."""

from __future__ import annotations

import json
from typing import Any


def put_lines(client: Any, bucket: str, key: str, records: list[Any]) -> None:
    body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    client.put_object(Bucket=bucket, Key=key, Body=body)


def objects(client: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under ``prefix``: key -> bytes."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def published(client: Any, bucket: str, prefix: str) -> list[Any]:
    """The records of the batches the sink's manifests publish, in batch and part order."""
    held = objects(client, bucket, prefix)
    manifests = sorted(k for k in held if k.startswith(f"{prefix}/_manifests/"))
    rows = []
    for key in manifests:
        for part in json.loads(held[key])["parts"]:
            rows.extend(json.loads(line) for line in held[f"{prefix}/{part}"].splitlines())
    return rows
