"""Newline-delimited text over TCP, made replayable by the receiver write-ahead log.

``mode="connect"`` is Spark's ``socketTextStream``: connect to a server and read
lines, reconnecting with backoff until the job stops. ``mode="listen"`` binds
``host:port`` and accepts any number of clients; with ``ack=True`` each client
gets ``ACK <n>\\n`` after its lines are durably logged (``n`` counts the lines
of that connection stored so far), so a sender can resend what was not acked.

A line that is not valid in ``encoding``, or longer than ``max_line_bytes``, is
logged and acknowledged like any line but read back as a dead letter (reason,
peer and line number; origin ``partition 0, offset N``), so the job goes on and
nothing is stored as replacement characters.

Sides: sockets, threads and the write-ahead log live on the driver; workers
read planned ranges from the log file (``ReceiverLogReader``), or the driver
reads its in-memory log when there is no checkpoint (:mod:`etlcore.receiver`).

    ctx.source("socket", port=0, mode="listen", ack=True)   # source.port is the bound port
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from etlcore.config import check_encoding, option
from etlcore.errors import ConfigError
from etlcore.receiver import ReceiverSource
from etlcore.source import Rejected

log = logging.getLogger("etlcore.connectors.socket")

_POLL = 0.2  # seconds a blocked accept/recv waits before checking for stop
_BACKOFF = (0.1, 5.0)  # first and longest wait between reconnects
_CHUNK = 65536


@dataclass
class SocketSourceConfig:
    port: int = option(help="TCP port to connect to, or to listen on (0: any free port)")
    host: str = option("127.0.0.1", help="host to connect to, or interface to bind")
    mode: Literal["connect", "listen"] = option("connect", help="connect to a server, or serve")
    ack: bool = option(False, help="listen mode: answer 'ACK <n>' after lines are logged",
                       identity=False)
    encoding: str = option("utf-8", help="text encoding of the lines")
    max_line_bytes: int = option(1 << 20, help="longer lines are dead letters (their first "
                                 "KiB kept), not records", identity=False)

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not 0 <= self.port <= 65535 or (self.port == 0 and self.mode == "connect"):
            raise ConfigError(f"{prefix}port", "a TCP port 1-65535 (0 only in listen mode)",
                              self.port)
        if self.ack and self.mode != "listen":
            raise ConfigError(f"{prefix}ack", "false in connect mode (only listen mode acks)",
                              self.ack)
        check_encoding(f"{prefix}encoding", self.encoding)
        if self.max_line_bytes < 1:
            raise ConfigError(f"{prefix}max_line_bytes", "a positive number of bytes",
                              self.max_line_bytes)


_SHOWN = 1024  # bytes of an overlong line kept in its dead letter


class _LineBuffer:
    """Splits a byte stream into lines, keeping the unfinished tail for the next chunk.

    A line that does not decode, or runs past ``max_bytes``, comes out as a
    :class:`Rejected` (raw bytes backslash-escaped, the reason, the peer and
    line number), never as U+FFFD replacement text posing as good data.
    """

    def __init__(self, encoding: str, max_bytes: int = 1 << 20, peer: str = "peer"):
        self.encoding = encoding
        self.max_bytes = max_bytes
        self.peer = peer
        self.tail = b""
        self.line_no = 0
        self.overflow: int | None = None  # bytes of an overlong line dropped so far

    def feed(self, data: bytes) -> list[Any]:
        *lines, tail = (self.tail + data).split(b"\n")
        out = []
        for line in lines:
            out.append(self._line(line))
        self.tail = tail
        if len(tail) > self.max_bytes:  # keep the head for the dead letter, drop the rest
            self.overflow = (self.overflow or 0) + len(tail) - _SHOWN
            self.tail = tail[:_SHOWN]
        return out

    def flush(self) -> list[Any]:
        """The last line when the peer closed without a final newline."""
        if not self.tail and self.overflow is None:
            return []
        line, self.tail = self.tail, b""
        return [self._line(line)]

    def _line(self, line: bytes) -> Any:
        self.line_no += 1
        overflow, self.overflow = self.overflow, None
        line = line.removesuffix(b"\r")
        if overflow is not None or len(line) > self.max_bytes:
            size = len(line) + (overflow or 0)
            return self._reject(line[:_SHOWN], f"line of {size} bytes (or more) is longer than "
                                f"max_line_bytes ({self.max_bytes}); its first {_SHOWN} "
                                "bytes are kept")
        try:
            return line.decode(self.encoding)
        except UnicodeDecodeError as err:
            return self._reject(line, f"not valid {self.encoding} text: {err.reason} at byte "
                                f"{err.start}")

    def _reject(self, raw: bytes, reason: str) -> Rejected:
        shown = raw.decode(self.encoding, errors="backslashreplace")
        return Rejected(shown, reason, f"{self.peer}, line {self.line_no} of the connection")


class SocketSource(ReceiverSource):
    """Receives text lines over TCP; every line is logged before it counts as received."""

    def __init__(self, config: SocketSourceConfig):
        self.config = config
        self.host = config.host
        self.port = config.port  # the bound port once listening (useful with port 0)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server: socket.socket | None = None

    # -- lifecycle ------------------------------------------------------------
    def start_receiving(self) -> None:
        self._stop.clear()
        if self.config.mode == "listen":
            self._server = socket.create_server((self.host, self.port))
            self._server.settimeout(_POLL)
            self.port = self._server.getsockname()[1]
            self._spawn(self._accept_loop, f"socket-listen-{self.port}")
        else:
            self._spawn(self._connect_loop, f"socket-connect-{self.host}:{self.port}")

    def stop_receiving(self) -> None:
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wake readers blocked in recv
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        self._threads.clear()
        if self._server is not None:
            self._server.close()
            self._server = None

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _stopping(self) -> bool:
        return self._stop.is_set() or (hasattr(self, "ctx") and self.ctx.stop_event.is_set())

    # -- connect mode ------------------------------------------------------------
    def _connect_loop(self) -> None:
        delay = _BACKOFF[0]
        while not self._stopping():
            try:
                conn = socket.create_connection((self.host, self.port), timeout=_POLL * 5)
            except OSError as err:
                log.debug("connect to %s:%s failed (%s); retry in %.1fs",
                          self.host, self.port, err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, _BACKOFF[1])
                continue
            delay = _BACKOFF[0]
            self._serve(conn, ack=False)
            if not self._stopping():  # the server closed: back off before reconnecting
                self._stop.wait(delay)

    # -- listen mode --------------------------------------------------------------
    def _accept_loop(self) -> None:
        server = self._server
        assert server is not None
        while not self._stopping():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError as err:
                if self._stopping():
                    return
                log.warning("accept on port %s failed: %s", self.port, err)
                self._stop.wait(_POLL)
                continue
            self._spawn(self._serve, f"socket-client-{peer[0]}:{peer[1]}", conn, self.config.ack)

    # -- one connection -------------------------------------------------------------
    def _serve(self, conn: socket.socket, ack: bool) -> None:
        """Read lines until the peer closes or the job stops; log each chunk, then ack."""
        conn.settimeout(_POLL)
        with self._lock:
            self._conns.add(conn)
        try:
            peer = "{}:{}".format(*conn.getpeername()[:2])
        except OSError:
            peer = "peer"
        buffer = _LineBuffer(self.config.encoding, self.config.max_line_bytes, f"from {peer}")
        stored = 0
        try:
            while not self._stopping():
                try:
                    data = conn.recv(_CHUNK)
                except TimeoutError:
                    continue
                if not data and self._stopping():
                    return  # we hung up, not the peer: an unfinished line is not a line
                lines = buffer.feed(data) if data else buffer.flush()
                if lines:
                    self.store(lines)
                    stored += len(lines)
                    if ack:
                        conn.sendall(f"ACK {stored}\n".encode())
                if not data:
                    return
        except OSError as err:
            if not self._stopping():
                log.warning("socket connection lost: %s", err)
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()
