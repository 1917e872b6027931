"""A source's lines kept in the buffer they were read into, for an operator that parses them.

A reader that cuts a file range (or a fetch) into one ``bytes`` object per line
makes ~500,000 objects for W3's 55 MB, and the JSON decoder then reads each one
once: the split is ~30% of the decode's cost. When the first operator after a
source can read lines out of a buffer (``parse_json``), the engine asks the
reader for a :class:`LineBlock` instead (:meth:`etlcore.source.SourceReader.read_lines`),
and the decoder hands each line to msgspec as a view of that buffer; only the
lines it refuses become ``bytes``, as their dead letters' records. Any other
operator gets :meth:`LineBlock.lines`: the same records the reader's ``read`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LineBlock:
    """The records ``data[start:stop].split(b"\\n")``: ``count`` lines of bytes, in order.

    ``start``/``stop`` let a reader hand on the buffer of one read without copying the
    range out of it (a read that began before the range, or ran past it).
    """

    data: bytes
    start: int
    stop: int
    count: int

    @classmethod
    def of(cls, data: bytes, start: int = 0, stop: int | None = None) -> LineBlock:
        """The lines of ``data[start:stop]``, counted (one C pass over the bytes)."""
        end = len(data) if stop is None else stop
        if not 0 <= start <= end <= len(data):
            raise ValueError(f"start and stop: expected 0 <= start <= stop <= {len(data)}, "
                             f"got {start} and {end}")
        return cls(data, start, end, data.count(b"\n", start, end) + 1)

    def lines(self) -> list[bytes]:
        """The records, one ``bytes`` per line without its ``\\n``."""
        return self.data[self.start:self.stop].split(b"\n")

    def __len__(self) -> int:
        return self.count
