"""A file system's byte ranges, checked end to end: the same file read as ranges, by
``read_lines`` and by a job of two partitions, gives each line once; CSV byte ranges
and Parquet row groups (:func:`check_format_splits`) the same, with ranged reads only.

File-system plugins call them from their server tests with files they have written::

    check_byte_ranges(fs, url, SPLIT_BODY.encode(), folder_url, settings, "s3", tmp_path)
    check_format_splits(fs, folder_url, put, settings, "s3", tmp_path)
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etlcore import StreamingContext
from etlcore.connectors.splits import RowGroups
from etlcore.connectors.textfiles import read_files, read_lines
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


def split_inputs() -> tuple[bytes, bytes, list[dict[str, Any]], list[dict[str, Any]]]:
    """A CSV file (header, CRLF, quoted commas) and a Parquet file of 8 row groups, and
    their records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_rows = [{"id": str(i), "text": f"t, {i}" + "é" * (i % 3)} for i in range(300)]
    body = "id,text\r\n" + "".join(f'{r["id"]},"{r["text"]}"\r\n' for r in csv_rows)
    rows = [{"i": i, "s": f"row-{i}" * (i % 4), "x": i / 8} for i in range(2000)]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out, row_group_size=250, use_dictionary=False)
    return body.encode(), out.getvalue(), csv_rows, rows


def check_format_splits(fs: FileSystem, folder: str, put: Callable[[str, bytes], None],
                        settings: dict[str, Any], source: str, tmp_path: Path) -> None:
    """``t.csv`` cut into byte ranges and ``t.parquet`` into row groups under ``folder``
    (empty), read by jobs of two partitions: each record once, the parts in the manifest;
    one row-group part fetches less than half the file."""
    csv_data, parquet, csv_rows, rows = split_inputs()
    put("t.csv", csv_data)
    put("t.parquet", parquet)
    for fmt, want, step in (("csv", csv_rows, 700), ("parquet", rows, len(parquet) // 4)):
        ckpt = tmp_path / f"ckpt-{fmt}"
        ctx = StreamingContext(1.0, ckpt, clock="manual", name=f"splits-{fmt}")
        stream = ctx.source(source, path=folder, format=fmt, pattern=f"*.{fmt}",
                            split_bytes=step, partitions=2, **settings)
        got: list[Any] = []
        stream.foreach_batch(lambda _b, records, got=got: got.extend(records))
        ctx.run(until_idle=True)
        assert not ctx.dead_letters, ctx.dead_letters
        key = "id" if fmt == "csv" else "i"
        assert sorted(got, key=lambda r, key=key: int(r[key])) == want
        manifest = [json.loads(line) for line in
                    next(ckpt.rglob("manifest.jsonl")).read_text().splitlines()]
        part = "range" if fmt == "csv" else "row_groups"
        assert len(manifest) > 2 and all(part in e for e in manifest), manifest

    counting = copy.copy(fs)
    fetched: list[int] = []

    def read(path: Any, start: int = 0, length: int | None = None) -> bytes:
        data = fs.read(path, start, length)
        fetched.append(len(data))
        return data

    counting.read = read  # type: ignore[method-assign]
    got = list(read_files(folder, ["t.parquet"], "parquet", "utf-8", fs=counting,
                          spans=[RowGroups(2, 4, len(parquet), 8)]))
    assert got == rows[500:1000]
    assert 0 < sum(fetched) < len(parquet) / 2, f"read {sum(fetched)} of {len(parquet)} bytes"
