"""Helpers for the HBase tests: read a table back, cells with their timestamps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import happybase

Cells = dict[bytes, tuple[bytes, int]]


def scan(host: str, port: int, table: str) -> list[tuple[bytes, Cells]]:
    """Every row of ``table`` in key order, each cell as ``(value, timestamp)``."""
    conn = happybase.Connection(host, port, timeout=60000)
    try:
        return list(conn.table(table).scan(include_timestamp=True))
    finally:
        conn.close()


def exists(host: str, port: int, table: str) -> bool:
    conn = happybase.Connection(host, port, timeout=60000)
    try:
        return table.encode() in conn.tables()
    finally:
        conn.close()


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
