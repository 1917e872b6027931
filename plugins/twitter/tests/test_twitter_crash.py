"""Exactly once through SIGKILLs: the trending job killed mid-stream, again and again.

The stand-in runs here; the job is a subprocess with a checkpoint. Each run is
killed a random moment after it connected. A tweet written to the socket just
before a kill never reaches the log: the next connection asks for backfill and
the server sends the recent tweets again; the receiver drops those whose ids
are in the log already. In the end every tweet the server sent is stored once,
and every window's counts are the hashtags of the tweets stored in it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from etlcore_twitter.standin import Faults
from twitter_testlib import check_windows, rows

from etlcore.contract.outage import wait_for

pytestmark = pytest.mark.slow

JOB = Path(__file__).with_name("twitter_job.py")
KILLS = int(os.environ.get("ETLCORE_TWITTER_KILLS", "12"))
LENGTH, INTERVAL = 1.0, 0.2  # as twitter_job.py sets them


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, str(JOB), *args], stdout=subprocess.DEVNULL,
                                stderr=err)


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkilled_job_stores_every_sent_tweet_once(standin, tmp_path: Path, runner: str) -> None:
    seed = int(os.environ.get("ETLCORE_TWITTER_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (rerun with ETLCORE_TWITTER_SEED={seed})")
    rng = random.Random(seed)
    server = standin(seed=seed, rate=60.0, backfill_minute=10.0,
                     faults=Faults(duplicate=0.01, malformed=0.005, drop=0.002))
    db, log = tmp_path / "out.db", tmp_path / "job.log"
    args = [str(tmp_path / "ckpt"), str(db), server.url, server.token, runner]
    kills = 0
    for _ in range(KILLS):
        before = server.connections
        job = spawn(args, log)
        wait_for(lambda job=job, before=before: server.connections > before
                 or job.poll() is not None, 60, "the job to connect")
        assert job.poll() is None, f"the job exited {job.returncode}:\n{log.read_text()}"
        time.sleep(rng.uniform(0.2, 1.5))
        job.send_signal(signal.SIGKILL)
        job.wait()
        kills += 1
    job = spawn(args, log)
    try:
        server.finish()
        wait_for(server.drained, 60, "the stand-in to deliver every tweet")
        sent = server.sent_ids()
        wait_for(lambda: job.poll() is not None or sent <= {
            r[0] for r in rows(db, "SELECT id FROM tweets")}, 90, "every sent tweet stored")
        Path(f"{db}.stop").touch()
        job.wait(60)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, f"the last run failed:\n{log.read_text()[-3000:]}"

    stored = Counter(r[0] for r in rows(db, "SELECT id FROM tweets"))
    twice = [tid for tid, n in stored.items() if n > 1]
    assert not twice, f"tweets stored twice: {twice[:10]}"
    sent = server.sent_ids()
    assert set(stored) == sent, (f"missing {sorted(sent - set(stored))[:10]}, "
                                 f"never sent {sorted(set(stored) - sent)[:10]}")
    assert kills >= 10 and server.connections > kills
    print(f"{kills} kills, {len(sent)} tweets, {len(server.sent)} deliveries, "
          f"{server.connections} connections")

    windows = check_windows(db, server, round(LENGTH / INTERVAL))
    assert windows > 10, f"only {windows} windows stored"

