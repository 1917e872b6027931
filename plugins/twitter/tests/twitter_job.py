"""The trending-hashtags job as a process, for the SIGKILL test (killed and restarted).

    python twitter_job.py CHECKPOINT DB BASE_URL TOKEN [RUNNER]

RUNNER is ``local`` (default) or ``processes`` (tasks read the receiver log
in two worker processes).

Stops when the file ``DB.stop`` exists and a batch planned after that read
nothing new. Backfill on every connect brings back what a kill lost between
the server's write and the receiver log; ids already logged are dropped.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from etlcore_twitter.trending import build

from etlcore import StreamingContext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from twitter_testlib import HASHTAG_RULES  # noqa: E402


def main(checkpoint: str, db: str, url: str, token: str, runner: str = "local") -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    workers = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(0.2, checkpoint, name="trending-crash", checkpoint_interval=3,
                           runner=runner, **workers)
    source = {"base_url": url, "bearer_token": token, "rules": HASHTAG_RULES,
              "backfill_minutes": 1, "stall_timeout": 1.0, "network_backoff": 0.02,
              "network_backoff_cap": 0.2, "http_backoff": 0.05, "http_backoff_cap": 0.4,
              "rate_limit_backoff": 0.1, "rate_limit_backoff_cap": 0.8}
    build(ctx, source, db, length=1.0, slide=0.4)
    stop_file, seen_stop = Path(db + ".stop"), []

    def stop_when_drained(m):
        if seen_stop and m.records_in == 0:
            ctx.stop()
        elif stop_file.exists():
            seen_stop.append(m.batch_id)

    ctx.add_listener(stop_when_drained)
    ctx.run()


if __name__ == "__main__":
    main(*sys.argv[1:6])
