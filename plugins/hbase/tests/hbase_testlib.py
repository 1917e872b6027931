"""Helpers for the HBase tests: read a table back, cells with their timestamps."""

from __future__ import annotations

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
