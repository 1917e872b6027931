"""Newline-delimited text over TCP, made replayable by the receiver write-ahead log.

``mode="connect"`` is Spark's ``socketTextStream``: connect to a server and read
lines, reconnecting with backoff until the job stops. ``mode="listen"`` binds
``host:port`` and accepts any number of clients; with ``ack=True`` each client
gets ``ACK <n>\\n`` after its lines are durably logged (``n`` counts the lines
of that connection stored so far), so a sender can resend what was not acked.

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
from typing import Literal

from etlcore.config import option
from etlcore.errors import ConfigError
from etlcore.receiver import ReceiverSource

log = logging.getLogger("etlcore.connectors.socket")

_POLL = 0.2  # seconds a blocked accept/recv waits before checking for stop
_BACKOFF = (0.1, 5.0)  # first and longest wait between reconnects
_CHUNK = 65536


@dataclass
class SocketSourceConfig:
    port: int = option(help="TCP port to connect to, or to listen on (0: any free port)")
    host: str = option("127.0.0.1", help="host to connect to, or interface to bind")
    mode: Literal["connect", "listen"] = option("connect", help="connect to a server, or serve")
    ack: bool = option(False, help="listen mode: answer 'ACK <n>' after lines are logged")
    encoding: str = option("utf-8", help="text encoding of the lines")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not 0 <= self.port <= 65535 or (self.port == 0 and self.mode == "connect"):
            raise ConfigError(f"{prefix}port", "a TCP port 1-65535 (0 only in listen mode)",
                              self.port)
        if self.ack and self.mode != "listen":
            raise ConfigError(f"{prefix}ack", "false in connect mode (only listen mode acks)",
                              self.ack)
        try:
            "".encode(self.encoding)
        except LookupError:
            raise ConfigError(f"{prefix}encoding", "a known text encoding", self.encoding) from None


class _LineBuffer:
    """Splits a byte stream into lines, keeping the unfinished tail for the next chunk."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.tail = b""

    def feed(self, data: bytes) -> list[str]:
        *lines, self.tail = (self.tail + data).split(b"\n")
        return [self._decode(line) for line in lines]

    def flush(self) -> list[str]:
        """The last line when the peer closed without a final newline."""
        tail, self.tail = self.tail, b""
        return [self._decode(tail)] if tail else []

    def _decode(self, line: bytes) -> str:
        return line.removesuffix(b"\r").decode(self.encoding, errors="replace")


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
        buffer = _LineBuffer(self.config.encoding)
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
