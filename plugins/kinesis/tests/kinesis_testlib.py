"""Helpers shared by the kinesis tests and their subprocess job."""

from __future__ import annotations

import json
from typing import Any


def put(client: Any, stream: str, records: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """put_records in chunks of 500; returns each record's shard and sequence number."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(records), 500):
        chunk = records[i:i + 500]
        resp = client.put_records(StreamName=stream, Records=[
            {"PartitionKey": key, "Data": data} for key, data in chunk])
        assert resp["FailedRecordCount"] == 0, resp
        out.extend(resp["Records"])
    return out


def numbered(start: int, count: int, keys: int = 7, tag: str = "r") -> list[tuple[str, bytes]]:
    """``count`` JSON records ``{"i": n, "k": key}`` spread over ``keys`` partition keys."""
    return [(f"k{n % keys}", json.dumps({"i": n, "k": f"k{n % keys}", "tag": tag}).encode())
            for n in range(start, start + count)]


def assert_shard_order(records: list[dict[str, Any]]) -> None:
    """Records (value_only=False) in output order: sequence numbers rise within each shard."""
    last: dict[str, int] = {}
    for r in records:
        seq = int(r["sequence_number"])
        assert seq > last.get(r["shard"], -1), f"out of order in {r['shard']}: {r}"
        last[r["shard"]] = seq
