"""A reader's lines kept in the buffer they were read into: the one block a source hands on.

A reader that cuts a file (or a byte range, or a fetch) into one object per line
makes ~500,000 objects for 55 MB of JSON lines, and whoever takes them next reads
each one once: for ``parse_json`` the split is ~30% of the decode's cost; for a text
job whose lines go unchanged into a ``files`` sink, decoding every line to ``str``
and encoding it back costs ~0.3 s per 128 MB. So a reader may hand on its records as
:class:`LineBlock` objects instead (:meth:`etlcore.source.SourceReader.read_blocks`), and
the engine asks for them in two situations:

- a stage passes the source's records unchanged into its sinks: a block of ``str``
  lines goes to each part writer as the bytes it was read as
  (:meth:`etlcore.sink.PartWriter.write_text`);
- the source's one reader in the task parses lines out of a buffer (``parse_json``,
  alone or fused with the steps after it): the decoder hands each line to msgspec as
  a view of the buffer (:meth:`etlcore.jsondecode.JsonDecoder.decode_lines`); only the
  lines it refuses become objects, as their dead letters' records.

Anyone else gets :meth:`LineBlock.lines`: exactly the records the reader's ``read``
gives, ``bytes`` lines or (``text``) ``str`` lines.
"""

from __future__ import annotations


class LineBlock:
    """The lines of ``data[start:stop]``, in order: the pieces between newlines, without
    the empty piece after a last ``\\n`` (so ``b"a\\n\\nb"`` and ``b"a\\n\\nb\\n"`` are both
    ``a``, empty, ``b``; an empty range has no line).

    ``text``: the records are ``str`` lines, and the reader vouches that the bytes are
    their UTF-8 form with no ``\\r`` (:func:`etlcore.textblock.text_block` checks it), so
    no line is a dead letter of decoding; otherwise the records are the ``bytes`` lines.
    ``start``/``stop`` let a reader hand on the buffer of one read without copying the
    range out of it (a read that began before the range, or ran past it). ``count`` is
    counted when first asked, unless whoever walked the lines already noted it
    (:meth:`counted`): counting 55 MB of lines with ``bytes.count`` costs ~20 ms.
    """

    __slots__ = ("_count", "data", "start", "stop", "text")

    def __init__(self, data: bytes, start: int = 0, stop: int | None = None,
                 count: int | None = None, *, text: bool = False):
        end = len(data) if stop is None else stop
        if not 0 <= start <= end <= len(data):
            raise ValueError(f"start and stop: expected 0 <= start <= stop <= {len(data)}, "
                             f"got {start} and {end}")
        self.data = data
        self.start = start
        self.stop = end
        self.text = text
        self._count = count

    @property
    def last(self) -> int:
        """Where the last line ends: ``stop``, or before a last ``\\n`` (the pieces of
        ``data[start:last].split(b"\\n")`` are the lines when the block is not empty)."""
        stop = self.stop
        return stop - 1 if stop > self.start and self.data[stop - 1] == 10 else stop

    @property
    def count(self) -> int:
        """How many lines (records)."""
        if self._count is None:
            if self.stop == self.start:
                self._count = 0
            else:
                self._count = self.data.count(b"\n", self.start, self.last) + 1
        return self._count

    def counted(self, count: int) -> None:
        """Note the number of lines found by walking them (a decoder's records + refusals)."""
        self._count = count

    def lines(self) -> list[bytes] | list[str]:
        """The records: each line without its ``\\n``, as ``str`` when ``text``."""
        if self.stop == self.start:
            self._count = 0
            return []
        raw = self.data[self.start:self.last]
        lines: list[bytes] | list[str] = (raw.decode("utf-8").split("\n") if self.text
                                          else raw.split(b"\n"))
        self._count = len(lines)
        return lines

    def record(self, line: bytes) -> bytes | str:
        """One line cut out of the buffer as the record ``lines`` would give for it."""
        return line.decode("utf-8") if self.text else line

    def terminated(self) -> bytes:
        """The lines' bytes, each line ending in ``\\n`` (the last given one if it had
        none): what a text file of these records holds. No copy for a whole buffer."""
        data, start, stop = self.data, self.start, self.stop
        if stop == start:
            return b""
        if data[stop - 1] != 10:
            return data[start:stop] + b"\n"
        return data if start == 0 and stop == len(data) else data[start:stop]

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        kind = "str" if self.text else "bytes"
        return f"LineBlock({self.stop - self.start} bytes of {kind} lines, count={self._count})"
