"""The stand-in's HTTP side: auth, the rules endpoints and the chunked stream.

A stream connection takes items from the server's queue, writes each as one
``\\r\\n``-terminated line in its own chunk, and writes a blank keep-alive line
when the queue stays empty for ``keepalive`` seconds. Faults are drawn per
item: a drop writes half a line and closes, a stall goes silent and closes,
a malformed line goes before the tweet, a duplicate after it. Connection
attempts may draw an error answer with a problem body.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from etlcore_twitter.standin_rules import PROBLEM, invalid
from etlcore_twitter.tweets import EXPANSIONS, TWEET_FIELDS, USER_FIELDS, shape

if TYPE_CHECKING:
    from etlcore_twitter.standin import StandinServer

STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"

ERRORS = [
    (429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
           "status": 429}),
    (429, {"title": "ConnectionException", "detail": "This stream is currently at the maximum "
           "allowed connection limit.", "connection_issue": "TooManyConnections",
           "type": PROBLEM + "streaming-connection"}),
    (503, {"title": "Service Unavailable", "detail": "Service Unavailable",
           "type": "about:blank", "status": 503}),
    (500, {"errors": [{"message": "Internal error"}], "title": "Internal Server Error",
           "detail": "Internal error", "type": "about:blank", "status": 500}),
]
MALFORMED = [b'{"data": {"id": "1", "text": "cut sho', b"<html>502 Bad Gateway</html>",
             b'["not", "an", "object"]', b'{"data": {"text": "no id"}}']


class StreamHandler(BaseHTTPRequestHandler):
    """One request: bearer auth, the rules endpoints, or a stream connection."""

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
                                    "type": PROBLEM + "client-forbidden"}
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
            self._answer(200, self.standin.rulebook.listing())
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
                self._answer(400, invalid(
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

        A backfill resend draws no fault: with drops among them, every reconnect
        would resend the window again and cut it again (a storm no real stream
        shows). An item cut by a drop or a stall is given back.
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
        if backfilled:
            self._chunk(line + b"\r\n")
            s.mark_sent(index, conn)
            return True
        if s.draw("drop"):
            s.give_back(index)
            with contextlib.suppress(OSError):
                self._chunk(line[: len(line) // 2])
            return False
        if s.draw("stall"):
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
