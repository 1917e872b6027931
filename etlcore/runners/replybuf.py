"""A worker's replies read straight into one buffer kept for the next reply.

``Connection.recv_bytes`` reads a message in chunks into a ``BytesIO`` that grows
as they come, and a W3 reply is ~440 KB (2,250 dead letters): every reply made
and grew a new big block, which the allocator maps fresh and the driver faults
page by page, on the cores the workers need (``BytesIO.write`` was 0.09 ms of
driver CPU a reply, more than the reads). :class:`ReplyReader` reads the same
framing (``multiprocessing.connection``'s: a 4-byte big-endian length, or -1 and
an 8-byte one) with ``readv`` into a ``bytearray`` it keeps, so after the first
reply nothing is allocated to receive one. The bytes are valid until the next
read: the caller unpickles them at once.
"""

from __future__ import annotations

import os
import struct

KEEP_AT_MOST = 16 << 20  # a bigger reply gets a buffer of its own, not kept


class ReplyReader:
    """Reads whole messages from one connection's file descriptor (Unix)."""

    def __init__(self, fd: int):
        self.fd = fd
        self._buf = bytearray(1 << 16)
        self._head = bytearray(8)

    def _fill(self, view: memoryview) -> None:
        """Fill ``view`` from the pipe; EOFError when the other end closed first."""
        got, size = 0, len(view)
        while got < size:
            n = os.readv(self.fd, [view[got:]])
            if n == 0:
                raise EOFError("the worker's end of the pipe closed mid-message")
            got += n

    def read(self) -> memoryview:
        """The next message's bytes (a view into the kept buffer, valid until the next read)."""
        head = memoryview(self._head)
        self._fill(head[:4])
        (size,) = struct.unpack_from("!i", self._head)
        if size == -1:
            self._fill(head)
            (size,) = struct.unpack_from("!Q", self._head)
        buf = self._buf
        if size > len(buf):
            buf = bytearray(max(size, min(2 * len(buf), KEEP_AT_MOST)))
            if len(buf) <= KEEP_AT_MOST:
                self._buf = buf
        view = memoryview(buf)[:size]
        self._fill(view)
        return view
