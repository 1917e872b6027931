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

import contextlib
import json
import random
import select
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from etlcore_twitter.tweets import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    make_tweet,
    matches,
    shape,
)

STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"
_PROBLEM = "https://api.twitter.com/2/problems/"


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


ERRORS = [
    (429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
           "status": 429}),
    (429, {"title": "ConnectionException", "detail": "This stream is currently at the maximum "
           "allowed connection limit.", "connection_issue": "TooManyConnections",
           "type": _PROBLEM + "streaming-connection"}),
    (503, {"title": "Service Unavailable", "detail": "Service Unavailable",
           "type": "about:blank", "status": 503}),
    (500, {"errors": [{"message": "Internal error"}], "title": "Internal Server Error",
           "detail": "Internal error", "type": "about:blank", "status": 500}),
]
MALFORMED = [b'{"data": {"id": "1", "text": "cut sho', b"<html>502 Bad Gateway</html>",
             b'["not", "an", "object"]', b'{"data": {"text": "no id"}}']


class StandinServer:
    """The stand-in: call :meth:`start` (or use ``with``), then point the source at ``url``."""

    def __init__(self, *, token: str = "standin-token", seed: int = 0, rate: float = 0.0,
                 limit: int | None = None, faults: Faults | None = None,
                 keepalive: float = 20.0, backfill_minute: float = 60.0,
                 status: int | None = None, host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.seed = seed
        self.rate = rate
        self.limit = limit
        self.faults = faults or Faults()
        self.keepalive = keepalive
        self.backfill_minute = backfill_minute  # seconds one backfill "minute" spans
        self.status = status  # answer every request with this error status (401, 403)
        self.rng = random.Random(seed)
        self.lock = threading.Condition()
        self.closed = threading.Event()
        self.items: list[tuple[str | None, dict[str, Any] | bytes]] = []  # (id, tweet) or raw
        self.cursor = 0
        self.retry: deque[int] = deque()
        self.history: list[tuple[float, int]] = []  # (when, item) of each tweet sent
        self.sent: list[tuple[str, int]] = []  # (tweet id, connection) per complete line
        self.malformed_sent = 0
        self.connections = 0
        self.faults_done: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.rules: dict[str, dict[str, str]] = {}
        self._rule_ids = 1_580_000_000_000_000_000
        self.generated = 0
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
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
            for when, index in self.history:
                if when >= since:
                    seen.setdefault(index, None)
            return list(seen)

    def mark_sent(self, index: int, connection: int) -> None:
        with self.lock:
            tid = self.items[index][0]
            if tid is None:
                self.malformed_sent += 1
                return
            self.sent.append((tid, connection))
            self.history.append((time.monotonic(), index))

    def draw(self, fault: str) -> bool:
        p = getattr(self.faults, fault)
        with self.lock:
            hit = p > 0 and self.rng.random() < p
            if hit:
                self.faults_done[fault] += 1
        return hit

    # -- rules -----------------------------------------------------------------------------
    def rule_list(self) -> dict[str, Any]:
        with self.lock:
            data = [dict(r) for r in self.rules.values()]
        meta = {"sent": _now(), "result_count": len(data)}
        return {"data": data, "meta": meta} if data else {"meta": meta}

    def change_rules(self, body: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or ("add" in body) == ("delete" in body):
            return 400, _invalid("Request body must hold exactly one of 'add' or 'delete'")
        with self.lock:
            if "add" in body:
                return self._add(body["add"], dry_run)
            return self._delete(body["delete"], dry_run)

    def _add(self, rules: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        if not isinstance(rules, list) or not rules:
            return 400, _invalid("'add' must be a non-empty list of rules")
        errors, have = [], {r["value"] for r in self.rules.values()}
        for rule in rules:
            value = rule.get("value") if isinstance(rule, dict) else None
            why = _rule_problem(value)
            if why:
                errors.append({"value": value, "details": [why], "title": "Invalid Rule",
                               "type": _PROBLEM + "invalid-rules"})
            elif value in have:
                errors.append({"value": value, "id": next(
                    i for i, r in self.rules.items() if r["value"] == value),
                    "title": "DuplicateRule", "type": _PROBLEM + "duplicate-rules"})
        summary = {"created": 0, "not_created": len(rules), "valid": len(rules) - len(errors),
                   "invalid": len(errors)}
        if errors:  # one bad rule: none is created
            return 200, {"meta": {"sent": _now(), "summary": summary}, "errors": errors}
        data = []
        for rule in rules:
            self._rule_ids += 1
            made = {"id": str(self._rule_ids), "value": rule["value"],
                    **({"tag": rule["tag"]} if rule.get("tag") else {})}
            data.append(made)
            if not dry_run:
                self.rules[made["id"]] = made
        summary.update(created=0 if dry_run else len(rules), not_created=len(rules) if dry_run
                       else 0)
        return 201, {"data": data, "meta": {"sent": _now(), "summary": summary}}

    def _delete(self, spec: Any, dry_run: bool) -> tuple[int, dict[str, Any]]:
        ids = spec.get("ids") if isinstance(spec, dict) else None
        if not isinstance(ids, list) or not ids:
            return 400, _invalid("'delete' must be {\"ids\": [rule ids]}")
        errors = [{"value": i, "title": "RuleNotFound", "details": ["no rule with this id"],
                   "type": _PROBLEM + "resource-not-found"} for i in ids if i not in self.rules]
        if not dry_run and not errors:
            for i in ids:
                del self.rules[i]
        deleted = 0 if errors or dry_run else len(ids)
        doc: dict[str, Any] = {"meta": {"sent": _now(), "summary": {
            "deleted": deleted, "not_deleted": len(ids) - deleted}}}
        if errors:
            doc["errors"] = errors
        return 200, doc

    def matching_rules(self, tweet: dict[str, Any]) -> list[dict[str, str]]:
        with self.lock:
            rules = list(self.rules.values())
        return [{"id": r["id"], "tag": r.get("tag", "")} for r in rules
                if matches(r["value"], tweet["text"])]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _invalid(message: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"errors": [{"parameters": parameters or {}, "message": message}],
            "title": "Invalid Request", "detail": "One or more parameters to your request was "
            "invalid.", "type": _PROBLEM + "invalid-request"}


def _rule_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "a rule needs a non-empty value"
    if len(value) > 1024:
        return "rule is longer than 1024 characters"
    if value.count("(") != value.count(")"):
        return "unbalanced parentheses"
    if value.strip().upper().endswith((" OR", " AND")) or value.strip().upper() == "OR":
        return "dangling operator"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "twitter-standin/1"

    @property
    def standin(self) -> StandinServer:
        return self.server.standin  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    def _answer(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        ctype = "application/problem+json" if status >= 400 else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        s = self.standin
        if self.headers.get("Authorization") != f"Bearer {s.token}":
            self._answer(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                               "detail": "Unauthorized"})
            return False
        if s.status in (401, 403):
            detail = ("When authenticating requests to the Twitter API v2 endpoints, you must "
                      "use keys and tokens from a Twitter developer App that is attached to a "
                      "Project.")
            self._answer(s.status, {"title": "Client Forbidden", "detail": detail,
                                    "reason": "client-not-enrolled", "status": s.status,
                                    "type": _PROBLEM + "client-forbidden"}
                         if s.status == 403 else {"title": "Unauthorized", "status": 401,
                                                  "type": "about:blank",
                                                  "detail": "Unauthorized"})
            return False
        return True

    def _log(self, body: Any = None) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.standin.lock:
            self.standin.requests.append({"method": self.command, "path": parts.path,
                                          "query": query, "body": body})
        return parts.path, query

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path, query = self._log()
        if not self._authorized():
            return
        if path == RULES:
            self._answer(200, self.standin.rule_list())
        elif path == STREAM:
            self._stream(query)
        else:
            self._answer(404, {"title": "Not Found Error", "detail": f"no route {path}",
                               "type": "about:blank", "status": 404})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path, query = self._log(body)
        if not self._authorized():
            return
        if path != RULES:
            self._answer(404, {"title": "Not Found Error", "detail": f"no route {path}",
                               "type": "about:blank", "status": 404})
            return
        dry_run = query.get("dry_run", ["false"])[0] == "true"
        self._answer(*self.standin.change_rules(body, dry_run))

    # -- the stream ----------------------------------------------------------------------------
    def _params(self, query: dict[str, list[str]]) -> tuple[set[str], set[str], set[str]] | None:
        got = {k: set(",".join(v).split(",")) - {""} for k, v in query.items()}
        for key, allowed in (("tweet.fields", TWEET_FIELDS), ("expansions", EXPANSIONS),
                             ("user.fields", USER_FIELDS)):
            bad = sorted(got.get(key, set()) - allowed)
            if bad:
                self._answer(400, _invalid(
                    f"The `{key}` query parameter value [{bad[0]}] is not one of "
                    f"[{','.join(sorted(allowed))}]", {key: bad}))
                return None
        return got.get("tweet.fields", set()), got.get("expansions", set()), got.get(
            "user.fields", set())

    def _stream(self, query: dict[str, list[str]]) -> None:
        s = self.standin
        params = self._params(query)
        if params is None:
            return
        if s.draw("error"):
            choices = [e for e in ERRORS if e[0] in s.faults.error_statuses]
            status, doc = choices[s.rng.randrange(len(choices))]
            self._answer(status, doc)
            return
        with s.lock:
            s.connections += 1
            conn = s.connections
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        minutes = int(query.get("backfill_minutes", ["0"])[0] or 0)
        pending = deque(s.backfill(minutes)) if minutes else deque()
        try:
            self._deliver(conn, params, pending)
            self._chunk(b"")
        except OSError:
            pass

    def _peer_gone(self) -> bool:
        """True when the client closed its end (it sends nothing else on a stream)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _deliver(self, conn: int, params: tuple[set[str], set[str], set[str]],
                 pending: deque[int]) -> None:
        s = self.standin
        while not s.closed.is_set():
            backfilled = bool(pending)
            index = pending.popleft() if pending else s.take(s.keepalive)
            if self._peer_gone():  # a real server sees the FIN too: keep the item for the next
                if index is not None and not backfilled:
                    s.give_back(index)
                return
            if index is None:
                self._chunk(b"\r\n")  # keep-alive
                continue
            try:
                done = self._send(conn, params, index, backfilled)
            except BaseException:
                if not backfilled:
                    s.give_back(index)  # not written whole: the next connection sends it
                raise
            if not done:
                return

    def _send(self, conn: int, params: tuple[set[str], set[str], set[str]], index: int,
              backfilled: bool) -> bool:
        """Write item ``index`` (with its faults); False when the connection must end.

        An item cut by a drop or a stall is given back, unless it was a backfill
        resend (it was sent whole before).
        """
        s = self.standin
        tid, item = s.items[index]
        if tid is None:
            assert isinstance(item, bytes)
            self._chunk(item + b"\r\n")
            s.mark_sent(index, conn)
            return True
        assert isinstance(item, dict)
        rules = s.matching_rules(item)
        if not rules:
            return True  # the stream only carries tweets some rule matches
        line = json.dumps({**shape(item, *params), "matching_rules": rules}).encode()
        if s.draw("drop"):
            if not backfilled:
                s.give_back(index)
            with contextlib.suppress(OSError):
                self._chunk(line[: len(line) // 2])
            return False
        if s.draw("stall"):
            if not backfilled:
                s.give_back(index)
            s.closed.wait(s.faults.stall_seconds)
            return False
        if s.draw("malformed"):
            self._chunk(s.rng.choice(MALFORMED) + b"\r\n")
            with s.lock:
                s.malformed_sent += 1
        self._chunk(line + b"\r\n")
        s.mark_sent(index, conn)
        if s.draw("duplicate"):
            self._chunk(line + b"\r\n")
            s.mark_sent(index, conn)
        return True


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
