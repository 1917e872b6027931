"""Trending hashtags by SQL over a sliding window: `etlcore run examples/hashtags_sql.py --duration 20`.

Spark Streaming's "SQL on a stream" pattern: JSON tweets -> parse (malformed
ones go to the dead letters) -> a 10 s window sliding every 2 s -> one DuckDB
statement over the window's tweets that extracts the hashtags and ranks them ->
the top 5 per window on the console and in SQLite. Needs ``etlcore[sql]``.
"""

import json
from datetime import datetime, timezone

from etlcore import StreamingContext
from etlcore.stream import Stream

OUT = "etlcore-examples/hashtags_sql"
TRENDING = r"""
    SELECT '#' || lower(tag) AS tag, count(*) AS count
    FROM (SELECT unnest(regexp_extract_all(text, '#(\w+)', 1)) AS tag FROM batch)
    GROUP BY 1
    ORDER BY count DESC, tag
    LIMIT 5
"""


def parse(text: str) -> dict:
    record = json.loads(text)  # raises on malformed JSON: the record is dead-lettered
    if not isinstance(record.get("text"), str):
        raise ValueError("no text")
    return {"id": record["id"], "text": record["text"]}


def stamp(rows: list, info) -> list:
    """Rows stamped with the window's end (the batch time), for an idempotent upsert."""
    end = datetime.fromtimestamp(info.batch_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return [{"window_end": end, **r} for r in rows]


def trending(tweets: Stream, length: str = "10s", slide: str = "2s") -> Stream:
    """The top 5 hashtags of every window of parsed tweets ({id, text} records)."""
    return tweets.window(length, slide).sql(TRENDING, schema={"id": "int", "text": "str"})


def build() -> StreamingContext:
    ctx = StreamingContext(batch_interval="1s", checkpoint=f"{OUT}/checkpoint",
                           name="hashtags_sql")
    raw = ctx.source("generator", kind="tweets", format="json", bad_ratio=0.03, rate=200,
                     partitions=2)
    top = trending(raw.map(parse, on_error="dead_letter")).transform(stamp)
    top.pprint(5)
    top.sink("sqlite", path=f"{OUT}/hashtags.db", table="trending",
             key=["window_end", "tag"], columns=["window_end", "tag", "count"])
    return ctx
