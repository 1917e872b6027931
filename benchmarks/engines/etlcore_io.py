"""The benchmark's etlcore source and sink, split at the pickling boundary like any connector.

**How records reach the workers.** W1 and W3 are read from a line file inside
the timed run (:class:`LineFileSource`), as every engine reads them (see
:mod:`benchmarks.data`): a task carries its byte range, and the worker (the driver
under ``local``) reads, decodes and splits it. W2 and W4 are lists in the driver's
memory, exactly as for ``spark-rdd``'s ``sc.parallelize(records, 2)``, which pickles
each partition's slice and ships it inside the timed run. :class:`BenchSource` does
the same through a :class:`~etlcore.source.DriverReader`: every batch the driver
slices each partition's records and the runner ships them with that partition's
task (under ``local`` nothing is pickled, as for a real in-process job).

**W3's sink.** :class:`CountingWriter` folds its partition on the worker and
returns the four-number partial as the commit message;
:meth:`EtlCountingSink.commit` adds the partials up on the driver. No record is
shipped back, as in ``spark-rdd``'s ``mapPartitions(fold).collect()``.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.engines.base import CountingSink
from etlcore.batch import BatchInfo
from etlcore.lineblock import LineBlock
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
    # a step source: a job that is behind may take several steps a batch (etlcore.catchup;
    # the spark runner does by default); read and estimate cover multi-step ranges
    coalesces = True

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


# -- W1/W3: records born where the task runs ----------------------------------------

class LineFileSource(OffsetSource):
    """A line file cut into micro-batches of ``batch_bytes`` bytes, each in ``partitions`` byte ranges.

    A position counts batches. Batch ``b`` covers bytes ``[b * batch_bytes, (b + 1) *
    batch_bytes)`` of the file, split into ``partitions`` contiguous ranges; a line belongs
    to the range its first byte falls in (Hadoop's ``LineRecordReader`` rule, which
    ``sc.textFile`` follows), so no index of line offsets is needed and no line is read
    twice or lost. A task carries only ``(partition, start, end)``: the reader holds
    the path, and the worker (or under ``local`` the driver) reads, decodes and splits
    its own range, as a Kafka or file reader does. With ``binary`` the lines stay ``bytes``,
    as a Kafka value or a file's raw line reaches a job that parses it (W3's JSON).
    """

    rejects = False
    fresh_lists = True  # every read is a new list
    plans_ahead = True  # batch b is bytes [b, b + 1) * batch_bytes whatever committed

    def __init__(self, path: str, batch_bytes: int, partitions: int = 1, binary: bool = False):
        if batch_bytes < 1:
            raise ValueError(f"batch_bytes: expected a positive number of bytes, got {batch_bytes}")
        self.path = path
        self.size = os.path.getsize(path)
        self.batch_bytes = batch_bytes
        self.parts = partitions
        self.batches = -(-self.size // batch_bytes)  # ceiling division
        self.binary = binary

    @classmethod
    def of_lines(cls, path: str, records: int, batch_lines: int, partitions: int = 1,
                 binary: bool = False) -> LineFileSource:
        """Batches of about ``batch_lines`` lines: the bytes of that many average lines."""
        size = os.path.getsize(path)
        return cls(path, max(1, -(-size * batch_lines // max(records, 1))), partitions, binary)

    def partitions(self) -> list[str]:
        return [str(i) for i in range(self.parts)]

    def available(self, partition: str) -> int:
        return self.batches

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(self.batches, start + 1)

    def reader(self) -> SourceReader:
        return LineFileReader(self.path, [self.byte_range(int(p), b) for b in range(self.batches)
                                          for p in range(self.parts)], self.parts, self.binary)

    def byte_range(self, partition: int, batch: int) -> tuple[int, int]:
        """``[lo, hi)``: the bytes whose lines partition ``partition`` of ``batch`` reads."""
        lo = batch * self.batch_bytes
        n = min(self.size, lo + self.batch_bytes) - lo
        return lo + partition * n // self.parts, lo + (partition + 1) * n // self.parts

    def exhausted(self) -> bool:
        return True


#: bytes read past a range's end, to find the end of its last line in the same read
OVERREAD = 1 << 16


class LineFileReader(SourceReader):
    """Reads the lines that start in a partition's byte range of each batch."""

    def __init__(self, path: str, ranges: list[tuple[int, int]], parts: int,
                 binary: bool = False):
        self.path = path
        self.ranges = ranges  # (batch, partition) -> byte range, batch-major
        self.parts = parts
        self.binary = binary
        self.file: Any = None

    def open(self, ctx: Any) -> None:
        self.file = open(self.path, "rb")  # noqa: SIM115 - closed in close()

    def read(self, partition: str, start: int, end: int) -> list[str] | list[bytes]:
        p = int(partition)
        out: list[str] = []
        for b in range(start, end):
            out.extend(self.lines(*self.ranges[b * self.parts + p]))
        return out

    def read_blocks(self, partition: str, start: int, end: int) -> list[LineBlock] | None:
        """W3's lines (``binary``) of each batch as the buffer they were read into: the
        engine hands them to ``parse_json``, which decodes each line where it lies."""
        if not self.binary:
            return None
        p = int(partition)
        spans = (self.span(*self.ranges[b * self.parts + p]) for b in range(start, end))
        return [LineBlock(chunk, first, stop) for chunk, first, stop in filter(None, spans)]

    def lines(self, lo: int, hi: int) -> list[str] | list[bytes]:
        """The lines whose first byte is in ``[lo, hi)``, the last one read to its end."""
        span = self.span(lo, hi)
        if span is None:
            return []
        chunk, first, stop = span
        if chunk[stop - 1] == 10:  # the last line's newline is not part of it
            stop -= 1
        if self.binary:
            lines: list[Any] = chunk.split(b"\n")
            skip = 1 if first else 0  # the tail of the line begun before lo
            # the over-read's lines follow the one ending at stop: count those few, not the range
            return lines[skip:len(lines) - chunk.count(b"\n", stop)]
        return str(memoryview(chunk)[first:stop], "utf-8").split("\n")

    def span(self, lo: int, hi: int) -> tuple[bytes, int, int] | None:
        """``(chunk, first, stop)``: the lines whose first byte is in ``[lo, hi)`` are those of
        ``chunk[first:stop]`` (through the last one's newline, if it has one; as a
        :class:`~etlcore.lineblock.LineBlock` counts them); None when there are none.

        One read covers the range and, almost always, the end of its last line
        (``OVERREAD`` bytes more); the lines are cut out of that one buffer, so the range's
        bytes are not copied again before they are split.
        """
        if hi <= lo:
            return None
        f = self.file
        begin = max(lo - 1, 0)
        f.seek(begin)
        want = hi - begin + OVERREAD
        chunk = f.read(want)
        last = hi - 1 - begin  # the range's last byte, as an index into chunk
        first = 0
        if lo > 0:  # skip the end of the line that started before lo (byte lo-1 onwards)
            first = chunk.find(b"\n", 0, last + 1) + 1
            if first == 0:
                return None  # the whole range lies inside one line begun earlier
        if first > last:
            return None
        stop = chunk.find(b"\n", last)  # the newline ending the last line begun in range
        if stop < 0 and len(chunk) == want:  # a line longer than the over-read
            chunk += f.readline()
            stop = chunk.find(b"\n", last)
        if stop < 0:  # the file's last line, without a newline
            return chunk, first, len(chunk)
        return chunk, first, stop + 1  # through that newline

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "file": None}
