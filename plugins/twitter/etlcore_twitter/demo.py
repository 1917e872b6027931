"""``etlcore demo --source twitter-standin``: the trending-hashtags demo over the stand-in.

The stand-in serves seeded tweets with a few faults (drops, duplicates,
malformed lines), so the console shows reconnects and dead letters next to the
counts. Each run starts clean: the stand-in's tweet ids start over, so an old
checkpoint's dedup set would drop the new tweets as redeliveries.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from etlcore import StreamingContext
from etlcore.errors import ConfigError
from etlcore_twitter.standin import Faults, StandinServer
from etlcore_twitter.trending import build

RULES = [{"value": "has:hashtags", "tag": "tagged"}]


def standin_demo(out: str | Path, *, rate: float = 200.0,
                 seed: int = 42) -> tuple[Any, StandinServer]:
    """A started stand-in and the job reading it into ``out/twitter-demo.db``."""
    if not rate > 0 or math.isinf(rate):
        raise ConfigError("--rate", "a positive finite number of tweets per second", rate)
    out = Path(out)
    checkpoint, db = out / "twitter-checkpoint", out / "twitter-demo.db"
    shutil.rmtree(checkpoint, ignore_errors=True)
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    server = StandinServer(rate=rate, seed=seed, keepalive=5.0, backfill_minute=10.0,
                           keep_log=False,
                           faults=Faults(drop=0.001, duplicate=0.002, malformed=0.002)).start()
    ctx = StreamingContext(1.0, checkpoint, name="demo-twitter")
    build(ctx, {"base_url": server.url, "bearer_token": server.token, "rules": RULES,
                "backfill_minutes": 1, "stall_timeout": 15.0, "network_backoff": 0.1},
          db, length=10.0, slide=2.0, console=5)
    return ctx, server
