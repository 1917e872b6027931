"""Helpers of the twitter tests: fast source settings, reading the job's output."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etlcore_twitter.standin import StandinServer

HASHTAG_RULES = [{"value": "has:hashtags", "tag": "tagged"}]


def fast(server: StandinServer, **changes: Any) -> dict[str, Any]:
    """Source settings for ``server`` with the documented waits shrunk for tests."""
    return {"base_url": server.url, "bearer_token": server.token, "rules": HASHTAG_RULES,
            "stall_timeout": 1.0, "connect_timeout": 2.0, "network_backoff": 0.02,
            "network_backoff_cap": 0.2, "http_backoff": 0.05, "http_backoff_cap": 0.4,
            "rate_limit_backoff": 0.1, "rate_limit_backoff_cap": 0.8, **changes}


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the table is created with the first batch
        return []
    finally:
        conn.close()
