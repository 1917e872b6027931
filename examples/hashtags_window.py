"""Hashtag counts over a sliding window: `etlcore run examples/hashtags_window.py --duration 20`.

The demo pipeline written with the StreamingContext API (``etlcore demo`` runs
the Job form in ``etlcore/job/demo.py``, ``examples/hashtags.yaml`` the YAML
form): JSON tweets -> parse, dead-letter the malformed -> hashtags -> counts in
a 10 s window sliding every 2 s ("sum" is kept incrementally: add the new
batch, subtract the expired one) -> top 5 on the console, all to SQLite.
"""

import json
import re
from datetime import datetime, timezone

from etlcore import StreamingContext

HASHTAG = re.compile(r"#(\w+)")
OUT = "etlcore-examples/hashtags_window"


def parse(text: str) -> dict:
    record = json.loads(text)  # raises on malformed JSON: the record is dead-lettered
    if not isinstance(record.get("text"), str):
        raise ValueError("no text")
    return record


def rows(counts: list, info) -> list:
    """(tag, count) pairs -> rows stamped with the window's end (the batch time)."""
    end = datetime.fromtimestamp(info.batch_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return sorted(({"window_end": end, "tag": t, "count": c} for t, c in counts),
                  key=lambda r: -r["count"])


def build() -> StreamingContext:
    ctx = StreamingContext(batch_interval="1s", checkpoint=f"{OUT}/checkpoint",
                           name="hashtags_window")
    tweets = ctx.source("generator", kind="tweets", format="json", bad_ratio=0.03, rate=200,
                        partitions=2)
    tags = (tweets.map(parse, on_error="dead_letter")
                  .flat_map(lambda t: ["#" + h.lower() for h in HASHTAG.findall(t["text"])]))
    counts = tags.map(lambda tag: (tag, 1)).reduce_by_key_and_window(
        "sum", length="10s", slide="2s")
    top = counts.transform(rows)
    top.pprint(5)
    top.sink("sqlite", path=f"{OUT}/hashtags.db", table="hashtag_counts",
             key=["window_end", "tag"], columns=["window_end", "tag", "count"])
    return ctx
