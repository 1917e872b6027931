"""The trending-hashtags job on the stand-in with every fault injected.

Drops mid-line, stalls past the stall timeout, 429s and 5xx answers with
problem bodies, malformed lines and duplicate deliveries, plus backfill
redeliveries on every reconnect: every tweet the server sent at least once
must be stored exactly once, malformed lines must reach the dead letters, and
each window's counts must be the hashtags of the tweets stored in it.
``ETLCORE_TWITTER_SOAK`` (seconds, default 30) runs it longer; it runs on
until every kind of fault happened at least once.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from etlcore_twitter.standin import Faults
from etlcore_twitter.trending import build
from twitter_testlib import check_windows, fast, rows

from etlcore import StreamingContext
from etlcore.contract.outage import wait_for

pytestmark = pytest.mark.slow

SOAK = float(os.environ.get("ETLCORE_TWITTER_SOAK", "30"))
KINDS = ("drop", "stall", "error", "malformed", "duplicate")
LENGTH, SLIDE, INTERVAL = 2.0, 0.5, 0.25


def test_every_sent_tweet_is_stored_once_under_all_faults(standin, tmp_path: Path) -> None:
    seed = int(os.environ.get("ETLCORE_TWITTER_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (rerun with ETLCORE_TWITTER_SEED={seed})")
    faults = Faults(drop=0.004, stall=0.003, stall_seconds=1.5, error=0.3, malformed=0.004,
                    duplicate=0.008)
    server = standin(seed=seed, rate=60.0, faults=faults,
                     backfill_minute=1.0)  # a reconnect resends what was sent in the last 1 s
    db = tmp_path / "out.db"
    ctx = StreamingContext(INTERVAL, tmp_path / "ckpt", name="trending")
    build(ctx, fast(server, backfill_minutes=1), db, length=LENGTH, slide=SLIDE)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            ctx.run()
        except BaseException as err:  # noqa: BLE001 - reported by the test thread
            failed.append(err)

    job = threading.Thread(target=run, daemon=True)
    job.start()
    try:
        started = time.monotonic()
        wait_for(lambda: failed or (time.monotonic() - started >= SOAK and all(
            server.faults_done[k] for k in KINDS)), 3 * SOAK, "every kind of fault")
        server.finish()
        wait_for(server.drained, 60, "the stand-in to deliver every queued tweet")
        sent = server.sent_ids()
        wait_for(lambda: failed or sent <= {r[0] for r in rows(db, "SELECT id FROM tweets")},
                 60, "every sent tweet in the output")
    finally:
        ctx.stop()
        job.join(60)
    assert not failed, f"the job failed: {failed[0]!r}"

    stored = Counter(r[0] for r in rows(db, "SELECT id FROM tweets"))
    twice = [tid for tid, n in stored.items() if n > 1]
    assert not twice, f"tweets stored twice: {twice[:10]}"
    sent = server.sent_ids()
    assert set(stored) == sent, (f"missing {sorted(sent - set(stored))[:10]}, "
                                 f"never sent {sorted(set(stored) - sent)[:10]}")
    print(f"{len(sent)} tweets, {len(server.sent)} deliveries, {server.connections} "
          f"connections, faults {dict(server.faults_done)}")
    assert len(server.sent) > len(sent), "no tweet was delivered twice"

    letters = ctx.dead_letters
    assert 0 < len(letters) <= server.malformed_sent, (len(letters), server.malformed_sent)
    assert all("stream" in str(letter) for letter in letters), letters[:3]

    windows = check_windows(db, server, round(LENGTH / INTERVAL))
    assert windows > SOAK / SLIDE / 2, f"only {windows} windows stored"

