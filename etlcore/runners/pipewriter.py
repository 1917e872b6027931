"""Frames written to a pipe from a thread of their own, in the order they were queued.

Both ends of a worker's pipe need it. Through a 64 KB pipe a large write waits
for the other end to read: the driver's tasks (a W3 range's records) wait for a
worker busy with the previous task, and a worker's reply (~300 KB of dead letters
for a W3 task) waits for a driver busy with the other worker's reply or the
commit. Writing from a thread lets the caller go on meanwhile; the write
releases the GIL.
"""

from __future__ import annotations

import multiprocessing.connection
import queue
import threading


class PipeWriter:
    """Writes each :meth:`send`'s frames back to back (nothing queued later comes between)."""

    def __init__(self, conn: multiprocessing.connection.Connection, name: str):
        self.conn = conn
        self._out: queue.SimpleQueue[tuple[bytes, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=name)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            frames = self._out.get()
            if frames is None:
                return
            try:
                for data in frames:
                    self.conn.send_bytes(data)
            except (OSError, ValueError):  # the other end is gone, or the pipe was closed
                return

    def send(self, *frames: bytes) -> None:
        self._out.put(frames)

    def close(self) -> None:
        """After the frames queued so far are written (or the other end is gone)."""
        self._out.put(None)
        self._thread.join(timeout=10)
