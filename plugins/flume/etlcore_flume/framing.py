"""Avro's Netty framing: ``serial, count, (length, bytes) * count``, all int32 big-endian.

Java's NettyTransceiver sends every request as one such frame and matches the
reply by serial. With Flume's ``compression-type: deflate`` the whole TCP
stream, both ways, is one zlib stream (Netty's ZlibEncoder/ZlibDecoder)
flushed after every write; :class:`Deflate` undoes and redoes that.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from etlcore_flume.protocol import ProtocolError

_INT = struct.Struct(">i")
_HEAD = struct.Struct(">ii")
_SLACK = 1 << 20  # buffered bytes allowed past max_frame_bytes (headers, a next frame's start)


@dataclass
class Frame:
    serial: int
    buffers: list[bytes]

    @property
    def payload(self) -> bytes:
        return b"".join(self.buffers)


def encode_frame(serial: int, payload: bytes) -> bytes:
    """One reply frame holding ``payload`` in a single buffer."""
    return _HEAD.pack(serial, 1) + _INT.pack(len(payload)) + payload


class Stopped(Exception):
    """The server is stopping: the connection ends without a reply."""


class Deflate:
    """The zlib stream of a deflate-compressed Flume connection, both directions."""

    def __init__(self) -> None:
        self.inflater = zlib.decompressobj()
        self.deflater = zlib.compressobj(6)

    def inflate(self, data: bytes) -> bytes:
        try:
            return self.inflater.decompress(data)
        except zlib.error as err:
            raise ProtocolError(f"not a deflate (zlib) stream: {err}; is the agent's "
                                "compression-type the same as the source's?") from None

    def deflate(self, data: bytes) -> bytes:
        return self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)


class FrameReader:
    """Reads whole frames off a socket, refusing counts and sizes past the limits."""

    def __init__(self, conn: socket.socket, max_frame_bytes: int, deflate: Deflate | None,
                 stopping: Callable[[], bool]):
        self.conn = conn
        self.stopping = stopping
        self.max_frame_bytes = max_frame_bytes
        self.deflate = deflate
        self.buffer = bytearray()

    def _fill(self, n: int) -> bool:
        """Buffer at least ``n`` bytes; False on a clean EOF before any byte of a frame."""
        while len(self.buffer) < n:
            try:
                data = self.conn.recv(1 << 16)
            except TimeoutError:  # the socket polls so a stop is seen
                if self.stopping():
                    raise Stopped from None
                continue
            if not data:
                if self.buffer:
                    raise ProtocolError(f"connection closed mid-frame ({len(self.buffer)} of "
                                        f"{n} bytes)")
                return False
            self.buffer += self.deflate.inflate(data) if self.deflate else data
            if len(self.buffer) > self.max_frame_bytes + _SLACK:  # a deflate bomb, say
                raise ProtocolError(f"{len(self.buffer)} bytes buffered without a complete "
                                    f"frame: over max_frame_bytes ({self.max_frame_bytes})")
        return True

    def _take(self, n: int) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def read(self) -> Frame | None:
        """The next frame, or None when the peer closed between frames."""
        if not self._fill(8):
            return None
        serial, count = _HEAD.unpack(self._take(8))
        if not 0 < count <= 1 << 16:
            raise ProtocolError(f"frame {serial}: buffer count {count} is not 1..65536 "
                                "(not Avro Netty framing)")
        buffers, total = [], 0
        for i in range(count):
            self._fill(4)
            (length,) = _INT.unpack(self._take(4))
            total += max(length, 0)
            if length < 0 or total > self.max_frame_bytes:
                raise ProtocolError(f"frame {serial}: buffer {i} length {length} (frame total "
                                    f"{total}) is negative or over max_frame_bytes "
                                    f"({self.max_frame_bytes})")
            self._fill(length)
            buffers.append(self._take(length))
        return Frame(serial, buffers)
