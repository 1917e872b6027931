"""Click enrichment by a SQL join with a reloading table: `etlcore run examples/enrich_sql.py --duration 20`.

Spark Streaming's "join a stream with a dimension table" pattern, in SQL:
every batch of clicks is LEFT JOINed with a users table read from
``examples/data/users.csv``, re-read every 10 batches so edits to the file
reach the job without a restart. Page views are dropped; clicks and
purchases go to SQLite with the user's tier and country ("unknown" for users
not in the file). Needs ``etlcore[sql]``.
"""

from pathlib import Path

from etlcore import StreamingContext
from etlcore.stream import Stream

OUT = "etlcore-examples/enrich_sql"
USERS = Path(__file__).resolve().parent / "data" / "users.csv"
ENRICH = """
    SELECT c.user_id, c.url, c.event, c.ts,
           coalesce(u.tier, 'unknown') AS tier, coalesce(u.country, 'unknown') AS country
    FROM batch c LEFT JOIN users u USING (user_id)
    WHERE c.event <> 'view'
"""
CLICK = {"user_id": "str", "url": "str", "event": "str", "ts": "double"}


def enrich(clicks: Stream) -> Stream:
    """Clicks and purchases with the user's tier and country (the table ``users``)."""
    return clicks.sql(ENRICH, schema=CLICK)


def build(users: str | Path = USERS, reload_every: int = 10) -> StreamingContext:
    ctx = StreamingContext(batch_interval="1s", checkpoint=f"{OUT}/checkpoint",
                           name="enrich_sql")
    ctx.register_table("users", users, reload_every=reload_every)
    clicks = ctx.source("generator", kind="clicks", rate=400, partitions=2)
    enriched = enrich(clicks)
    enriched.pprint(5)
    enriched.sink("sqlite", path=f"{OUT}/clicks.db", table="enriched_clicks",
                  key=["user_id", "ts", "url"],
                  columns=["user_id", "url", "event", "ts", "tier", "country"])
    return ctx
