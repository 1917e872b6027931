"""Which bytes may stand for text lines without being decoded, and text split in one pass.

A text source's records are ``str`` lines. Where a file's (or range's) bytes are
their UTF-8 form with no ``\r``, the reader need not decode them: it hands them on
as one :class:`~etlcore.lineblock.LineBlock` with ``text`` set (:func:`text_block`),
which the engine passes to a ``files`` sink as bytes or to ``parse_json`` as a
buffer (:mod:`etlcore.lineblock`). Where they are not, :func:`split_text` and the
line-by-line decode of :mod:`etlcore.connectors.textfiles` give the records, bad
lines as dead letters.
"""

from __future__ import annotations

import codecs
from functools import cache
from typing import Any

from etlcore.lineblock import LineBlock


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


def text_block(data: bytes, encoding: str) -> LineBlock | None:
    """A text file's bytes (in ``encoding``) as one block of ``str`` lines, or None when they
    must be decoded line by line: ``\\r`` line breaks, a codec other than UTF-8 with
    non-ASCII bytes, or bytes that are not valid UTF-8 (those lines become dead letters).
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
        count += 1  # the last line, without a line break
    return LineBlock(data, 0, len(data), count, text=True)


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
