"""Reference line scan: the executable specification of ``lines_c``.

``split_lines`` gives a block's lines as ``str`` when the whole block decodes
strictly and holds no ``\r`` (else the caller decodes line by line, for dead
letters). One look at a block of text bytes answers what :mod:`etlcore.textblock` asks
before passing lines on undecoded: how many line feeds, whether a carriage
return is among them, whether every byte is ASCII. The two are tested against
each other (``tests/fast/test_fast_lines.py``).
"""

from __future__ import annotations

__all__ = ["scan_lines", "split_lines"]


def scan_lines(data: bytes) -> tuple[int, bool, bool]:
    """``(line feeds, holds a carriage return, all ASCII)`` of ``data``."""
    return data.count(b"\n"), b"\r" in data, data.isascii()


def split_lines(data: bytes, utf8: bool = True) -> list[str] | None:
    """The lines of ``data`` (an empty last piece dropped), decoded strictly as UTF-8
    (``utf8``) or ASCII; None when a byte does not decode or ``\\r`` occurs."""
    if b"\r" in data:
        return None
    try:
        lines = data.decode("utf-8" if utf8 else "ascii").split("\n")
    except UnicodeDecodeError:
        return None
    if lines[-1] == "":
        lines.pop()
    return lines
