"""The benchmark's etlcore source and sink, split at the pickling boundary like any connector.

**How records reach the workers.** The input is a list in the driver's memory,
exactly as it is for ``spark-rdd``, whose ``sc.parallelize(records, 2)``
pickles each partition's slice and ships it to a Python worker inside the timed
run. :class:`BenchSource` does the same through a
:class:`~etlcore.source.DriverReader`: every batch the driver slices each
partition's records and the runner ships them with that partition's task, so
serialising and sending every record once, to the one worker that processes it,
is timed work on every runner (under ``local`` nothing is pickled, as for a
real in-process job).

The alternative, a reader that holds the whole list and travels inside the job's
program, would send *every* record to *every* worker (pickled once, unpickled
``workers`` times) and then leave each worker reading its slice from memory:
that models data already sitting beside the workers (a shared disk), which is
neither what the Spark engine measures nor what a job over driver-held data can
do, so it is not used.

**W3's sink.** :class:`CountingWriter` folds its partition on the worker and
returns the four-number partial as the commit message;
:meth:`EtlCountingSink.commit` adds the partials up on the driver. No record is
shipped back, as in ``spark-rdd``'s ``mapPartitions(fold).collect()``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.engines.base import CountingSink
from etlcore.batch import BatchInfo
from etlcore.sink import Sink, SinkWriter
from etlcore.source import DriverReader, OffsetSource, SourceReader


class BenchSource(OffsetSource):
    """Pre-generated records, ``batch_size`` per micro-batch, split over ``partitions``.

    A position counts batches (as ``QueueSource``'s do): batch ``b`` of partition
    ``i`` is the ``i``-th of ``partitions`` contiguous slices of
    ``records[b * batch_size:(b + 1) * batch_size]`` (``parallelize``'s split).
    Held records are never :class:`~etlcore.source.Rejected` (``rejects = False``), and
    each read is a new list the batch may keep (``fresh_lists = True``: no copy).
    """

    rejects = False
    fresh_lists = True  # read returns a new slice (or list) every call

    def __init__(self, records: list[Any], batch_size: int, partitions: int = 1):
        self.records = records
        self.batch_size = batch_size
        self.parts = partitions
        self.batches = -(-len(records) // batch_size)  # ceiling division

    def partitions(self) -> list[str]:
        return [str(i) for i in range(self.parts)]

    def available(self, partition: str) -> int:
        return self.batches

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(self.batches, start + 1)

    def reader(self) -> SourceReader:
        """The records live in the driver's memory: the driver reads, the runner ships."""
        return DriverReader(self)

    def _slice(self, partition: int, batch: int) -> tuple[int, int]:
        lo = batch * self.batch_size
        n = min(len(self.records), lo + self.batch_size) - lo
        return lo + partition * n // self.parts, lo + (partition + 1) * n // self.parts

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        p = int(partition)
        if end == start + 1:
            lo, hi = self._slice(p, start)
            return self.records[lo:hi]
        out: list[Any] = []
        for b in range(start, end):
            lo, hi = self._slice(p, b)
            out.extend(self.records[lo:hi])
        return out

    def estimate(self, partition: str, start: int, end: int) -> int | None:
        return sum(hi - lo for lo, hi in (self._slice(int(partition), b) for b in range(start, end)))

    def exhausted(self) -> bool:
        return True


class CountingWriter(SinkWriter):
    """Folds one partition where it was computed; the commit message is the partial."""

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        fold = CountingSink()
        fold.add_all(records)
        return fold.row()


class EtlCountingSink(Sink):
    """W3's counting sink: partials from the writers, added up on the driver at commit.

    Not idempotent on a replay; the benchmark runs without a checkpoint, so no
    batch is ever replayed.
    """

    def __init__(self) -> None:
        self.totals = CountingSink()

    def writer(self) -> SinkWriter:
        return CountingWriter()

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        for partial in messages:
            self.totals.merge(partial)


# -- records born on the worker (benchmarks/runner_feed.py only; not the suite's feed) --------

def write_lines(lines: list[str], path: str, batch_size: int, parts: int) -> list[list[int]]:
    """Write ``lines`` one per line to ``path``; the byte offsets of every batch's slices.

    ``offsets[b][i]`` is where slice ``i`` of batch ``b`` starts (``parts + 1`` numbers
    a batch, the last one the batch's end), the slices being :class:`BenchSource`'s.
    """
    if any("\n" in line for line in lines):
        raise ValueError("a line holds a newline: it cannot be one line of a file")
    starts = [0]
    with open(path, "wb") as f:
        for line in lines:
            data = line.encode() + b"\n"
            f.write(data)
            starts.append(starts[-1] + len(data))
    source = BenchSource(lines, batch_size, parts)
    return [[starts[source._slice(i, b)[0]] for i in range(parts)]
            + [starts[source._slice(parts - 1, b)[1]]] for b in range(source.batches)]


class LineFileSource(OffsetSource):
    """:class:`BenchSource`'s batches and slices, read from a line file where the task runs.

    The reader holds the file's path and the slices' byte offsets, so a task carries
    ``(partition, start, end)`` and the worker reads, decodes and splits its own slice
    (as a Kafka or file reader does); under ``local`` the driver reads the same file.
    """

    rejects = False

    def __init__(self, path: str, offsets: list[list[int]]):
        self.path = path
        self.offsets = offsets
        self.parts = len(offsets[0]) - 1 if offsets else 1

    def partitions(self) -> list[str]:
        return [str(i) for i in range(self.parts)]

    def available(self, partition: str) -> int:
        return len(self.offsets)

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(len(self.offsets), start + 1)

    def reader(self) -> SourceReader:
        return LineFileReader(self.path, self.offsets)

    def exhausted(self) -> bool:
        return True


class LineFileReader(SourceReader):
    """Reads one partition's slice of each batch from the line file."""

    def __init__(self, path: str, offsets: list[list[int]]):
        self.path = path
        self.offsets = offsets
        self.file: Any = None

    def open(self, ctx: Any) -> None:
        self.file = open(self.path, "rb")  # noqa: SIM115 - closed in close()

    def read(self, partition: str, start: int, end: int) -> list[str]:
        p = int(partition)
        out: list[str] = []
        for b in range(start, end):
            lo, hi = self.offsets[b][p], self.offsets[b][p + 1]
            if hi > lo:
                self.file.seek(lo)
                out.extend(self.file.read(hi - lo).decode()[:-1].split("\n"))
        return out

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "offsets": self.offsets, "file": None}
