"""The demo job: trending hashtags from generated tweets, in a sliding window.

Generated tweets (JSON text, 3% malformed) are cleansed (parse_json, require,
cast), split into hashtags and counted over a 10 s window sliding every 2 s
(1 s batches). Each window's counts go to the console and are upserted into
SQLite keyed on (window_end, tag), so a replayed batch rewrites the same rows.
``etlcore demo`` runs it; ``examples/hashtags.yaml`` is the same job in YAML.
With ``dashboard=True`` (``etlcore demo --ui``) the counts also go to a live dashboard
page (the ``dashboard`` sink of plugins/dashboard): the trending hashtags as a
bar chart, the window's total as a number and over batch time. Those sinks are
part of the job, so that variant keeps its own checkpoint (``checkpoint-ui``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etlcore.job.cleanse import cast, parse_json, require
from etlcore.job.job import Job

DEFAULT_OUT = "etlcore-demo"
DASHBOARD_PORT = 8050


def dashboard_sinks(port: int = DASHBOARD_PORT) -> list[tuple[str, dict[str, Any]]]:
    """The demo's panels: one page on 127.0.0.1:``port``."""
    where = {"port": port}
    return [
        ("dashboard", {"title": "Trending hashtags (10 s window)", "panel": "bar", "key": "tag",
                       "value": "count", "top": 10, **where}),
        ("dashboard", {"title": "Hashtags in the window", "panel": "number", "value": "count",
                       **where}),
        ("dashboard", {"title": "Hashtags per window, over batch time", "panel": "line",
                       "value": "count", **where}),
    ]


def demo_job(out: str | Path = DEFAULT_OUT, *, rate: float = 200.0, seed: int = 42,
             dashboard: bool = False, dashboard_port: int = DASHBOARD_PORT) -> Job:
    """The demo job writing under ``out`` (``demo.db`` and ``checkpoint/``, or ``checkpoint-ui/``)."""
    out = Path(out)
    return Job(
        "demo",
        source=("generator", {"kind": "tweets", "format": "json", "bad_ratio": 0.03,
                              "rate": rate, "partitions": 2, "seed": seed}),
        cleanse=[
            parse_json(),
            require(["id", "user", "text"]),
            cast({"id": int, "retweets": int, "created_at": "timestamp"}),
        ],
        transform=[
            {"extract_hashtags": {"field": "text"}},
            {"count_by_value_and_window": {"length": "10s", "slide": "2s"}},
            {"to_dict": {"fields": ["tag", "count"], "batch_time": "window_end"}},
            {"sort": {"by": "count", "descending": True}},
        ],
        store=[
            ("console", {"limit": 5}),
            ("sqlite", {"path": str(out / "demo.db"), "table": "hashtag_counts",
                        "key": ["window_end", "tag"], "columns": ["window_end", "tag", "count"],
                        "mode": "upsert"}),
            *(dashboard_sinks(dashboard_port) if dashboard else []),
        ],
        batch_interval="1s",
        checkpoint=out / ("checkpoint-ui" if dashboard else "checkpoint"),
    )
