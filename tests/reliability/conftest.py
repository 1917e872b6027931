"""Fixtures for the reliability tests: fresh MemorySink names, files written as producers do."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from etlcore.connectors.queue import MemorySink

_names = itertools.count()


@pytest.fixture
def sink_name() -> str:
    """A MemorySink name no other test uses."""
    name = f"reliability-{next(_names)}"
    MemorySink.clear(name)
    return name


def drop(folder: Path, name: str, data: bytes, mtime: float | None = None) -> Path:
    """Write-then-rename into a watched directory; ``mtime`` pins discovery order."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"_{name}.tmp"
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    final = folder / name
    tmp.rename(final)
    return final
