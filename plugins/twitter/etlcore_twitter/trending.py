"""The trending-hashtags job over the twitter source (the demo's job, fed by the stream).

Two outputs in one SQLite file, both exactly once (the sqlite sink stores its
last committed batch with the rows):

- ``tweets(id, batch_id)``: every tweet once (tests compare it with what the
  server sent);
- ``hashtag_counts(window_end, tag, count, batch_id)``: hashtags of
  ``data.text`` counted over a ``length`` s window sliding every ``slide`` s,
  upserted per window. A window spans the last ``length / batch interval``
  batches (by batch id: a restart after downtime does not empty it).

Module-level functions only, so the job pickles to worker processes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from etlcore.batch import BatchInfo

_HASHTAG = re.compile(r"#(\w+)")


def hashtags(record: dict[str, Any]) -> list[str]:
    """``#Rust and #rust`` -> ``["#rust", "#rust"]``."""
    return ["#" + t.lower() for t in _HASHTAG.findall(record["data"]["text"])]


def tweet_rows(records: list[dict[str, Any]], info: BatchInfo) -> list[dict[str, Any]]:
    return [{"id": r["data"]["id"], "batch_id": info.batch_id} for r in records]


def count_rows(pairs: list[tuple[str, int]], info: BatchInfo) -> list[dict[str, Any]]:
    """One row per tag of a window, most used first (what the console shows)."""
    ranked = sorted(pairs, key=lambda p: (-p[1], p[0]))
    return [{"window_end": info.batch_time, "tag": tag, "count": n, "batch_id": info.batch_id}
            for tag, n in ranked]


def build(ctx: Any, source: dict[str, Any], db: str | Path, *, length: float = 10.0,
          slide: float = 2.0, console: int = 0) -> None:
    """Add the job to StreamingContext ``ctx``: twitter source ``source`` -> ``db``."""
    tweets = ctx.source("twitter", **source)
    tweets.transform(tweet_rows).sink("sqlite", path=str(db), table="tweets", mode="append",
                                      columns=["id", "batch_id"])
    counts = (tweets.flat_map(hashtags)
              .count_by_value_and_window(length, slide)
              .transform(count_rows))
    counts.sink("sqlite", path=str(db), table="hashtag_counts", key=["window_end", "tag"],
                columns=["window_end", "tag", "count", "batch_id"], mode="upsert")
    if console:
        counts.sink("console", limit=console)
