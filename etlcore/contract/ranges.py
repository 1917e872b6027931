"""A file system's byte ranges, checked end to end: the same file read as ranges, by
``read_lines`` and by a job of two partitions, gives each line once.

File-system plugins call it from their server tests with a file they have written::

    check_byte_ranges(fs, url, SPLIT_BODY.encode(), folder_url, settings, "s3", tmp_path)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etlcore import StreamingContext
from etlcore.connectors.textfiles import read_lines
from etlcore.plugin.fs import FileSystem

# CRLF, a line longer than a range, an empty line, multi-byte characters, no final newline
SPLIT_BODY = "first\r\n" + "y" * 300 + "\nshort\n\n" + "é" * 50 + "\r\nlast, no newline"


def check_byte_ranges(fs: FileSystem, url: str, data: bytes, folder: str,
                      settings: dict[str, Any], source: str, tmp_path: Path,
                      step: int = 37) -> None:
    """``url`` (holding ``data``, alone in ``folder``) read as ranges of ``step`` bytes."""
    cuts = [*range(0, len(data), step), len(data)]
    chunks = [read_lines(fs, url, a, b, len(data), probe=16)[1]
              for a, b in zip(cuts, cuts[1:], strict=False)]
    assert b"".join(chunks) == data, "the ranges do not tile the file"
    assert chunks.count(b"") >= 4, "ranges inside the long line should read nothing"

    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="ranges")
    lines = ctx.source(source, path=folder, split_bytes=step, partitions=2, **settings)
    got: list[str] = []
    lines.foreach_batch(lambda _b, records: got.extend(records))
    ctx.run(until_idle=True)
    text = data.decode()
    assert sorted(got) == sorted(text.replace("\r\n", "\n").split("\n"))
    manifest = next((tmp_path / "ckpt").rglob("manifest.jsonl")).read_text()
    assert manifest.count('"range"') == -(-len(data) // step), "the file was not read as ranges"
