"""An Avro RPC server a Flume ``avro`` sink (or Flume's RpcClient) delivers to.

One listening socket, one thread per connection. Each call's events go to
``deliver(events, peer)``, which answers the Flume ``Status`` to send back:
``OK`` only once the events are durable, ``FAILED`` to make the client keep
and resend them. A connection that sends something that is not a Flume Avro
call is closed with a logged reason; the server keeps serving the others.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from etlcore_flume.framing import Deflate, FrameReader, Stopped, encode_frame
from etlcore_flume.protocol import ProtocolError, Session, status_reply

log = logging.getLogger("etlcore.flume")

Deliver = Callable[[list[dict[str, Any]], str], str]
_POLL = 0.2  # seconds a blocked accept/recv waits before checking for stop
_TLS_HANDSHAKE = 10.0  # seconds a client has to complete the TLS handshake


class AvroRpcServer:
    """Serves AvroSourceProtocol on ``host:port`` (0: a free port, see :attr:`port`)."""

    def __init__(self, host: str, port: int, deliver: Deliver, *, compression: str = "none",
                 max_frame_bytes: int = 64 << 20, name: str = "flume",
                 stopping: Callable[[], bool] = lambda: False,
                 ssl_context: ssl.SSLContext | None = None):
        self.host, self.port = host, port
        self.deliver = deliver
        self.compression = compression
        self.max_frame_bytes = max_frame_bytes
        self.name = name
        self._external_stop = stopping
        self.ssl_context = ssl_context
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None
        self.closed_for_errors = 0  # connections closed because of a protocol error

    def stopping(self) -> bool:
        return self._stop.is_set() or self._external_stop()

    def start(self) -> AvroRpcServer:
        self._server = socket.create_server((self.host, self.port))
        self._server.settimeout(_POLL)
        self.port = self._server.getsockname()[1]
        self._spawn(self._accept_loop, f"{self.name}-listen-{self.port}")
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        if self._server is not None:
            self._server.close()
            self._server = None

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self) -> None:
        server = self._server
        assert server is not None
        while not self.stopping():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError as err:
                if self.stopping():
                    return
                log.warning("%s: accept on port %s failed: %s", self.name, self.port, err)
                self._stop.wait(_POLL)
                continue
            self._spawn(self._serve, f"{self.name}-{peer[0]}:{peer[1]}", conn,
                        f"{peer[0]}:{peer[1]}")

    def _serve(self, conn: socket.socket, peer: str) -> None:
        """Answer calls until the peer hangs up, errs, or the server stops."""
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._conns.add(conn)
        if self.ssl_context is not None:  # in this thread: a slow handshake blocks no one
            plain = conn
            try:
                conn.settimeout(_TLS_HANDSHAKE)
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as err:
                self.closed_for_errors += 1
                log.warning("%s: closing connection from %s on port %s: TLS handshake failed "
                            "(%s)", self.name, peer, self.port, err)
                with self._lock:
                    self._conns.discard(plain)
                plain.close()
                return
            with self._lock:
                self._conns.discard(plain)
                self._conns.add(conn)
        conn.settimeout(_POLL)
        deflate = Deflate() if self.compression == "deflate" else None
        reader = FrameReader(conn, self.max_frame_bytes, deflate, self.stopping)
        session = Session()
        try:
            while not self.stopping():
                frame = reader.read()
                if frame is None:
                    return
                call = session.decode(frame.payload)
                if call.method:
                    status = self.deliver(call.events, peer)
                    reply = status_reply(status, call.handshake)
                else:  # handshake NONE: send the handshake alone, the client retries
                    reply = call.handshake
                data = encode_frame(frame.serial, reply)
                conn.sendall(deflate.deflate(data) if deflate else data)
        except ProtocolError as err:
            self.closed_for_errors += 1
            log.warning("%s: closing connection from %s on port %s: %s", self.name, peer,
                        self.port, err)
        except Stopped:
            return
        except OSError as err:
            if not self.stopping():
                log.info("%s: connection from %s lost: %s", self.name, peer, err)
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()
