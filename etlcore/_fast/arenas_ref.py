"""The pure-Python twin of ``arenas_c``: Python code cannot replace pymalloc's arena
allocator, so nothing is cached and freed arenas are unmapped as CPython does."""

from __future__ import annotations


def install(limit: int) -> bool:
    """Nothing to install without the extension."""
    return False


def stats() -> tuple[int, int, int]:
    """(arenas cached, the limit, arenas reused): always nothing."""
    return 0, 0, 0
