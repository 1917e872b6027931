"""Helpers of the twitter tests: fast source settings, reading the job's output."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from etlcore_twitter.standin import StandinServer
from etlcore_twitter.trending import hashtags

HASHTAG_RULES = [{"value": "has:hashtags", "tag": "tagged"}]


def fast(server: StandinServer, **changes: Any) -> dict[str, Any]:
    """Source settings for ``server`` with the documented waits shrunk for tests."""
    return {"base_url": server.url, "bearer_token": server.token, "rules": HASHTAG_RULES,
            "stall_timeout": 1.0, "connect_timeout": 2.0, "network_backoff": 0.02,
            "network_backoff_cap": 0.2, "http_backoff": 0.05, "http_backoff_cap": 0.4,
            "rate_limit_backoff": 0.1, "rate_limit_backoff_cap": 0.8, **changes}


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


def check_windows(db: Path, server: Any, panes: int) -> int:
    """Every stored window's counts are the hashtags of its last ``panes`` batches' tweets."""
    by_id = {tid: item for tid, item in server.items if tid is not None}
    tags_of: dict[int, Counter[str]] = defaultdict(Counter)
    for tid, batch in rows(db, "SELECT id, batch_id FROM tweets"):
        tags_of[batch].update(hashtags({"data": by_id[tid]}))
    windows: dict[int, Counter[str]] = defaultdict(Counter)
    for batch, tag, n in rows(db, "SELECT batch_id, tag, count FROM hashtag_counts"):
        windows[batch][tag] = n
    for batch, counts in windows.items():
        expected: Counter[str] = Counter()
        for b in range(batch - panes + 1, batch + 1):
            expected.update(tags_of.get(b, Counter()))
        assert counts == expected, f"window of batch {batch}: {counts} != {expected}"
    return len(windows)
