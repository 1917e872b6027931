"""Helpers of the HDFS tests: write inputs, read back what a sink committed."""

from __future__ import annotations

import json
from typing import Any


def put_lines(client: Any, path: str, records: list[Any]) -> None:
    body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    client.write(path, body, overwrite=True)


def files(client: Any, root: str) -> dict[str, bytes]:
    """Every file under ``root`` (recursively, hidden temp files too): relative path -> bytes."""
    out = {}
    if client.status(root, strict=False) is None:
        return out
    for folder, _, names in client.walk(root):
        for name in names:
            path = f"{folder}/{name}"
            with client.read(path) as reader:
                out[path[len(root) + 1:]] = reader.read()
    return out


def committed(client: Any, root: str) -> list[Any]:
    """The JSON-lines records of the batch directories marked ``_SUCCESS``, in order."""
    held = files(client, root)
    done = sorted(k.rsplit("/", 1)[0] for k in held if k.endswith("/_SUCCESS"))
    return [json.loads(line) for d in done for k in sorted(held)
            if k.startswith(d + "/part-") for line in held[k].splitlines()]
