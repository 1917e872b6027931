"""Text lines kept as their UTF-8 bytes from a text source to a text sink.

A job that reads text lines and writes them unchanged (``directory`` -> ``files``,
both ``format: text``) would decode every line to ``str``, split the text, then
join and encode the lines back: for 128 MB that is ~0.3 s of CPU, as much as an
S3 upload's own signing and checksums. When no operator sits between the
source and its sinks, the engine asks the reader for blocks of whole lines
(:meth:`etlcore.source.SourceReader.read_text`) and hands each to the sinks'
part writers (:meth:`etlcore.sink.PartWriter.write_text`). The records are the
same lines either way: a writer that wants them as ``str`` gets
:meth:`TextBlock.lines`, and the counts are those of the lines.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from functools import cache
from typing import Any


@cache
def _kernel() -> Any:
    """The line kernels' module, loaded on first use: ``import etlcore`` loads no kernel, so
    a missing build reaches the CLI as its one-line error, not as a traceback."""
    from etlcore._fast import COMPILED

    if not COMPILED:
        from etlcore._fast import lines_ref
        return lines_ref
    try:
        from etlcore._fast import lines_c
        lines_c.split_lines  # noqa: B018 - a build from before split_lines existed fails here
    except (ImportError, AttributeError) as exc:  # a build from before this kernel existed
        raise ImportError(
            f"etlcore's C kernel etlcore._fast.lines_c is not built, is older than this "
            f"etlcore or does not load ({exc}). Build it with `pip install -e .` (or `python "
            "setup.py build_ext --inplace`), or set ETLCORE_PURE_PYTHON=1 to run the "
            "pure-Python kernels."
        ) from exc
    return lines_c


#: codecs whose ASCII bytes are the same characters: ASCII text in them is UTF-8 as it is
ASCII_SUPERSETS = frozenset({"utf-8", "ascii", "iso8859-1", "iso8859-15", "cp1252"})


@dataclass(frozen=True)
class TextBlock:
    """Whole lines of valid UTF-8, each ending in ``\\n`` (none holds ``\\r``), and
    how many: the records a text source would have made of them."""

    data: bytes
    count: int

    def lines(self) -> list[str]:
        """The records: each line without its ``\\n``."""
        lines = self.data.decode("utf-8").split("\n")
        lines.pop()  # what follows the last "\n"
        return lines


def text_block(data: bytes, encoding: str) -> TextBlock | None:
    """A text file's bytes (in ``encoding``) as one block of lines, or None when they must
    be decoded line by line: ``\\r`` line breaks, a codec other than UTF-8 with non-ASCII
    bytes, or bytes that are not valid UTF-8 (those lines become dead letters).

    A last line without a line break gets one, as the ``files`` sink would write it.
    """
    count, cr, ascii = _kernel().scan_lines(data)  # one pass (lines_c)
    if cr:
        return None
    name = codecs.lookup(encoding).name
    if not ascii:
        if name != "utf-8":
            return None
        try:
            data.decode("utf-8")  # validation only: invalid lines are dead letters
        except UnicodeDecodeError:
            return None
    elif name not in ASCII_SUPERSETS:
        return None
    if data and not data.endswith(b"\n"):
        data += b"\n"
        count += 1
    return TextBlock(data, count)


def split_text(data: bytes, encoding: str) -> list[str] | None:
    """A text file's lines as ``str`` in one pass over its bytes (``lines_c.split_lines``),
    or None when they must be decoded with ``str.split``'s help: ``\\r`` line breaks, a
    codec other than UTF-8 with non-ASCII bytes, or bytes that do not decode (those lines
    become dead letters). The lines are those of ``data.decode(encoding).split("\\n")``
    without an empty last piece.

    A job whose records are ``str`` lines (a ``map`` or ``map_partitions`` after a text
    source) spends its read on this: ``decode`` then ``split`` copied every byte twice,
    0.05-0.2 s per 128 MB with the GIL held; the kernel copies each line once (ASCII) or
    decodes it once (UTF-8), 0.02 s.
    """
    name = codecs.lookup(encoding).name
    if name == "utf-8":
        utf8 = True
    elif name in ASCII_SUPERSETS:
        utf8 = False  # ASCII only: the same characters in this codec
    else:
        return None
    return _kernel().split_lines(bytes(data), utf8)  # type: ignore[no-any-return]
