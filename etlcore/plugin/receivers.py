"""Push sources with several partitions: one write-ahead log per partition.

:class:`etlcore.receiver.ReceiverSource` gives a push source (a socket) one
partition and one log. A source fed by several independent streams (N
receiver threads, N Flume agents, the shards of a push API) wants one
partition per stream, so batches read them in parallel and each keeps its own
order. :class:`PartitionedReceiverSource` keeps a :class:`ReceiverLog` per
partition and runs one receiver thread per partition (``receive``), or lets
the subclass start its own threads (``start_receiving``). Records must be
JSON-serialisable; :meth:`store` returns once they are durable, and only then
may the sender be acknowledged.

Layout: partition ``"0"`` logs to ``<state_dir>/received.jsonl``, exactly where
``ReceiverSource`` logs, and partition ``p`` to
``<state_dir>/partition-<p>/received.jsonl``.

Sides: receivers, logs and planning stay on the driver; with a checkpoint,
:class:`PartitionedLogReader` (the log paths) reads planned ranges on any
worker that sees the checkpoint; without one the driver reads its memory logs.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from etlcore.receiver import LineIndex, ReceiverLog
from etlcore.source import DriverReader, OffsetSource, SourceContext, SourceReader

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def log_folder(state_dir: Path | None, partition: str) -> Path | None:
    """Where partition ``partition`` keeps its log (None: in memory)."""
    if not _NAME.match(partition):
        raise ValueError(f"receiver partition name {partition!r}: use letters, digits, "
                         "'_', '.' and '-' (it names a directory)")
    if state_dir is None or partition == "0":
        return state_dir
    folder = state_dir / f"partition-{partition}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class PartitionedLogReader(SourceReader):
    """Reads planned offsets of each partition's log file; pickles as the paths alone."""

    def __init__(self, paths: dict[str, str]):
        self.paths = dict(paths)
        self._indexes: dict[str, LineIndex] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return PartitionedLogReader, (self.paths,)

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        with self._lock:
            index = self._indexes.get(partition)
            if index is None:
                index = self._indexes[partition] = LineIndex(Path(self.paths[partition]))
            if end > len(index):  # the driver logged more since the last scan
                index.scan()
            span = index.span(start, end)
        return index.read(*span)


class PartitionedReceiverSource(OffsetSource):
    """Base for push sources with one write-ahead log per partition.

    Subclasses give :meth:`receiver_partitions` and either :meth:`receive`
    (a loop for one partition, run on its own thread until :meth:`stopping`)
    or their own :meth:`start_receiving` (then use :meth:`spawn` for threads).
    """

    replayable: ClassVar[bool] = False

    def receiver_partitions(self) -> list[str]:
        """The partition names, fixed for the source's life (and its checkpoint)."""
        return ["0"]

    # -- lifecycle (driver) -------------------------------------------------------
    def open(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        state = ctx.state_dir()
        self.logs = {p: ReceiverLog(log_folder(state, p)) for p in self.receiver_partitions()}
        self.start_receiving()

    def start_receiving(self) -> None:
        """One thread per partition running :meth:`receive`."""
        for partition in self.logs:
            self.spawn(self.receive, f"{type(self).__name__}-{partition}", partition)

    def receive(self, partition: str) -> None:
        """Receive for ``partition`` until :meth:`stopping`, calling :meth:`store`."""
        raise NotImplementedError(f"{type(self).__name__} gives receive() or start_receiving()")

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Wake receivers blocked in I/O (close sockets) so they see :meth:`stopping`."""

    def stop_receiving(self) -> None:
        self._stop.set()
        self.interrupt()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        self._threads.clear()

    def spawn(self, target: Callable[..., None], name: str, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def stopping(self) -> bool:
        """True once the source closes or the job stops hard: receivers return then."""
        return self._stop.is_set() or self.ctx.stop_event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep (a reconnect backoff) unless stopping; True when stopping."""
        return self._stop.wait(seconds) or self.stopping()

    def close(self) -> None:
        if hasattr(self, "logs"):
            self.stop_receiving()
            for log in self.logs.values():
                log.close()

    # -- receiving ------------------------------------------------------------------
    def store(self, records: list[Any], partition: str = "0") -> int:
        """Log records durably for ``partition``; returns that log's length."""
        log = self.logs[partition]
        return log.append(records) if records else len(log)

    # -- planning and reading -------------------------------------------------------------
    def partitions(self) -> list[str]:
        return list(self.logs)

    def available(self, partition: str) -> int:
        return len(self.logs[partition])

    def reader(self) -> SourceReader:
        """Workers read the log files; memory logs (no checkpoint) are read here."""
        if not hasattr(self, "logs"):
            raise RuntimeError(f"{type(self).__name__}: reader() before open(); the logs "
                               "are opened with the source")
        if any(log.path is None for log in self.logs.values()):
            return DriverReader(self)
        return PartitionedLogReader({p: os.path.abspath(str(log.path))
                                     for p, log in self.logs.items()})

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        """Without a checkpoint (``DriverReader``): from the memory log."""
        return self.logs[partition].read(start, end)
