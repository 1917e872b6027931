"""A seeded stand-in for the X API v2 filtered stream, with injectable faults.

A real HTTP server (stdlib ``ThreadingHTTPServer``) speaking the protocol the
source uses: ``GET /2/tweets/search/stream`` (chunked, one JSON object per
``\\r\\n`` line, a blank keep-alive line when idle, ``backfill_minutes``),
``GET``/``POST /2/tweets/search/stream/rules`` (``add``, ``delete``,
``dry_run``), bearer auth, and RFC 7807-style problem bodies.

Tweets wait in one queue until a connection takes them, so a tweet published
while no client is connected is delivered on the next connection. A tweet is
*sent* once its whole line was written to a socket (``sent`` logs every such
write, duplicates included); a tweet whose line was cut by a drop is given
back and sent again. Faults (``Faults``) are drawn from one seeded RNG.

    with StandinServer(rate=200, faults=Faults.all()) as server:
        ctx.source("twitter", base_url=server.url, bearer_token=server.token, ...)
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from etlcore_twitter.standin_http import StreamHandler
from etlcore_twitter.standin_rules import RuleBook
from etlcore_twitter.tweets import make_tweet


@dataclass
class Faults:
    """Probabilities of each fault: per tweet taken, or per connection attempt (``error``)."""

    drop: float = 0.0  # close the connection in the middle of a line
    stall: float = 0.0  # go silent for stall_seconds (no keep-alive), then close
    stall_seconds: float = 2.0
    error: float = 0.0  # answer a connection attempt with 429 or 5xx and a problem body
    malformed: float = 0.0  # send a line that is not a tweet object before the tweet
    duplicate: float = 0.0  # send the tweet twice
    error_statuses: tuple[int, ...] = (429, 500, 503)  # which error answers ``error`` draws

    @classmethod
    def all(cls, rate: float = 0.01, stall_seconds: float = 2.0) -> Faults:
        """Every fault at about ``rate`` per tweet (errors per connection, more often)."""
        return cls(drop=rate, stall=rate / 3, stall_seconds=stall_seconds, error=0.3,
                   malformed=rate, duplicate=rate * 2)


_GONE: tuple[str | None, dict[str, Any] | bytes] = (None, b"")  # a forgotten tweet


class StandinServer:
    """The stand-in: call :meth:`start` (or use ``with``), then point the source at ``url``."""

    def __init__(self, *, token: str = "standin-token", seed: int = 0, rate: float = 0.0,
                 limit: int | None = None, faults: Faults | None = None,
                 keepalive: float = 20.0, backfill_minute: float = 60.0,
                 status: int | None = None, host: str = "127.0.0.1", port: int = 0,
                 keep_log: bool = True):
        self.token = token
        self.seed = seed
        self.rate = rate
        self.limit = limit
        self.faults = faults or Faults()
        self.keepalive = keepalive
        self.backfill_minute = backfill_minute  # seconds one backfill "minute" spans
        self.status = status  # answer every request with this error status (401, 403)
        # False (a long demo): no `sent` log, and tweets past the backfill horizon are forgotten
        self.keep_log = keep_log
        self.rng = random.Random(seed)
        self.lock = threading.Condition()
        self.closed = threading.Event()
        self.items: list[tuple[str | None, dict[str, Any] | bytes]] = []  # (id, tweet) or raw
        self.cursor = 0
        self.retry: deque[int] = deque()
        self.history: deque[tuple[float, int]] = deque()  # (when, item) of each tweet sent
        self._last_sent: dict[int, float] = {}
        self.sent: list[tuple[str, int]] = []  # (tweet id, connection) per complete line
        self.malformed_sent = 0
        self.connections = 0
        self.faults_done: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.rulebook = RuleBook()
        self.generated = 0
        self._httpd = ThreadingHTTPServer((host, port), StreamHandler)
        self._httpd.daemon_threads = True
        self._httpd.standin = self  # type: ignore[attr-defined]
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandinServer:
        for target in [self._httpd.serve_forever] + ([self._generate] if self.rate else []):
            thread = threading.Thread(target=target, daemon=True, name="twitter-standin")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.closed.set()
        with self.lock:
            self.lock.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests feed and read ---------------------------------------------------------------
    def publish(self, tweets: list[dict[str, Any]]) -> list[str]:
        """Queue tweets (``{"id", "text", ...}``) for delivery; their ids."""
        with self.lock:
            self.items.extend((t["id"], t) for t in tweets)
            self.lock.notify_all()
        return [t["id"] for t in tweets]

    def publish_raw(self, line: bytes) -> None:
        """Queue a line sent as is (a malformed line)."""
        with self.lock:
            self.items.append((None, line))
            self.lock.notify_all()

    def generate(self, n: int) -> list[str]:
        """Queue the next ``n`` seeded tweets."""
        with self.lock:
            first, self.generated = self.generated, self.generated + n
        return self.publish([make_tweet(self.seed, i) for i in range(first, first + n)])

    def finish(self) -> None:
        """Generate no more tweets (those queued are still delivered)."""
        with self.lock:
            self.limit = self.generated

    def drained(self) -> bool:
        """True when every queued item was taken and none waits to be sent again."""
        with self.lock:
            return self.cursor >= len(self.items) and not self.retry

    @property
    def rules(self) -> dict[str, dict[str, str]]:
        """The stream's rules by id (tests read and check them)."""
        return self.rulebook.rules

    def change_rules(self, body: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        """What ``POST .../rules`` answers (tests use it to put rules in place)."""
        return self.rulebook.change(body, dry_run)

    def matching_rules(self, tweet: dict[str, Any]) -> list[dict[str, str]]:
        return self.rulebook.matching(tweet)

    def sent_ids(self) -> set[str]:
        with self.lock:
            return {tid for tid, _ in self.sent}

    def _generate(self) -> None:
        start = time.monotonic()
        while not self.closed.is_set():
            due = int((time.monotonic() - start) * self.rate) - self.generated
            if self.limit is not None:
                due = min(due, self.limit - self.generated)
                if due <= 0 and self.generated >= self.limit:
                    return
            if due > 0:
                self.generate(due)
            self.closed.wait(0.02)

    # -- delivery (stream handler threads) ---------------------------------------------------
    def take(self, timeout: float) -> int | None:
        """The next item to deliver, waiting up to ``timeout``; None if there is none."""
        with self.lock:
            deadline = time.monotonic() + timeout
            while not self.retry and self.cursor >= len(self.items):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed.is_set():
                    return None
                self.lock.wait(left)
            if self.retry:
                return self.retry.popleft()
            self.cursor += 1
            return self.cursor - 1

    def give_back(self, index: int) -> None:
        with self.lock:
            self.retry.appendleft(index)
            self.lock.notify_all()

    def backfill(self, minutes: int) -> list[int]:
        """Items sent in the last ``minutes`` backfill minutes, in order, once each."""
        since = time.monotonic() - minutes * self.backfill_minute
        with self.lock:
            seen: dict[int, None] = {}
            for when, index in reversed(self.history):
                if when < since:
                    break
                seen[index] = None
            return sorted(seen)

    def mark_sent(self, index: int, connection: int) -> None:
        with self.lock:
            tid = self.items[index][0]
            if tid is None:
                self.malformed_sent += 1
                return
            now = time.monotonic()
            if self.keep_log:
                self.sent.append((tid, connection))
            self.history.append((now, index))
            self._last_sent[index] = now
            self._forget(now - 5 * self.backfill_minute)  # backfill_minutes is at most 5

    def _forget(self, horizon: float) -> None:
        """Drop sends older than any backfill; without ``keep_log``, the tweets too."""
        while self.history and self.history[0][0] < horizon:
            when, index = self.history.popleft()
            if self._last_sent.get(index) == when:  # its last send: no backfill needs it
                del self._last_sent[index]
                if not self.keep_log:
                    self.items[index] = _GONE

    def draw(self, fault: str) -> bool:
        p = getattr(self.faults, fault)
        with self.lock:
            hit = p > 0 and self.rng.random() < p
            if hit:
                self.faults_done[fault] += 1
        return hit


def main() -> None:
    """``python -m etlcore_twitter.standin [PORT]``: serve generated tweets until Ctrl-C."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    server = StandinServer(port=port, rate=50.0).start()
    print(f"twitter stand-in on {server.url}, bearer token {server.token!r}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
