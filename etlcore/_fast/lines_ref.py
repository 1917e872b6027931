"""Reference line scan: the executable specification of ``lines_c``.

One look at a block of text bytes answers what :mod:`etlcore.textblock` asks
before passing lines on undecoded: how many line feeds, whether a carriage
return is among them, whether every byte is ASCII. The two are tested against
each other (``tests/fast/test_fast_lines.py``).
"""

from __future__ import annotations

__all__ = ["scan_lines"]


def scan_lines(data: bytes) -> tuple[int, bool, bool]:
    """``(line feeds, holds a carriage return, all ASCII)`` of ``data``."""
    return data.count(b"\n"), b"\r" in data, data.isascii()
