"""Text lines from the directory source to the files sink, with no operator between,
go as the bytes they were read as (:mod:`etlcore.textblock`): the files, dead letters
and counts are those of the same job decoding every line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors import files as files_module
from etlcore.sink import PartWriter
from etlcore.textblock import text_block

FILES = {
    "a.txt": b"plain ascii\nsecond\n\nafter a blank line\n",
    "b.txt": "caf\u00e9 \u65e5\u672c\n\U0001f600\n".encode(),
    "c.txt": b"no line break at the end",
    "d.txt": b"windows\r\nline breaks\r\n",
    "e.txt": b"good\nbad \xff byte\ngood again\n",
    "f.txt": b"",
    "g.txt": b"\n\n",
}


def run_job(tmp_path: Path, name: str, through_map: bool, encoding: str = "utf-8",
            files: dict[str, bytes] = FILES, **sink: Any) -> tuple[bytes, list[Any], Any]:
    """The bytes of every part written (in batch order), the dead letters, the metrics."""
    src = tmp_path / "in"
    if not src.exists():
        src.mkdir()
        for n, data in files.items():
            (src / n).write_bytes(data)
    ctx = StreamingContext(1.0, tmp_path / f"ckpt-{name}", clock="manual", name=name,
                           parallelism=1)
    lines = ctx.source("directory", path=str(src), format="text", encoding=encoding,
                       max_files_per_batch=3)
    if through_map:
        lines = lines.map(lambda r: r)  # an operator: every line is decoded to str
    lines.sink("files", path=str(tmp_path / f"out-{name}"), format=sink.get("format", "text"))
    try:
        ctx.run(until_idle=True)
    finally:
        ctx.stop()
    out = b"".join(p.read_bytes() for p in
                   sorted((tmp_path / f"out-{name}").glob("batch-*/part-*")))
    letters = [(d["record"], d["reason"], d["origin"]) for d in ctx.dead_letters]
    return out, letters, ctx.metrics


@pytest.fixture
def blocks_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The line counts of the blocks the files sink took as bytes."""
    seen: list[int] = []
    original = files_module._FilesPart.write_text

    def spy(self: Any, block: Any) -> None:
        seen.append(block.count)
        original(self, block)

    monkeypatch.setattr(files_module._FilesPart, "write_text", spy)
    return seen


def test_the_same_files_letters_and_counts_as_decoding_every_line(
        tmp_path: Path, blocks_seen: list[int]) -> None:
    fast, fast_letters, fast_m = run_job(tmp_path, "fast", through_map=False)
    assert blocks_seen == [4, 2, 1, 2]  # a, b, c (given its line break) and g as bytes
    slow, slow_letters, slow_m = run_job(tmp_path, "slow", through_map=True)
    assert fast == slow
    assert fast_letters == slow_letters and len(fast_letters) == 1  # e.txt's "bad" line
    assert b"windows\nline breaks\n" in fast and b"no line break at the end\n" in fast
    assert [b.records_in for b in fast_m.batches] == [b.records_in for b in slow_m.batches]
    assert ([b.records_out["files"] for b in fast_m.batches]
            == [b.records_out["files"] for b in slow_m.batches])
    assert sum(b.records_in for b in fast_m.batches) == 14  # 4+2+1+2+3+0+2


def test_other_encodings_are_rewritten_as_utf8(tmp_path: Path, blocks_seen: list[int]) -> None:
    files = {"a.txt": "ascii only\n".encode("latin-1"), "b.txt": "d\u00e9j\u00e0\n".encode("latin-1")}
    out, letters, _ = run_job(tmp_path, "latin", False, "latin-1", files)
    assert out == "ascii only\nd\u00e9j\u00e0\n".encode() and not letters
    assert blocks_seen == [1]  # the ASCII file alone is the same bytes in UTF-8


def test_json_lines_output_gets_the_lines_as_records(tmp_path: Path) -> None:
    out, _, _ = run_job(tmp_path, "jsonl", False, files={"a.txt": b"x\n\"q\"\n"},
                        format="jsonl")
    assert out == b'"x"\n"\\"q\\""\n'


def test_a_part_writer_without_write_text_gets_records() -> None:
    class Lines(PartWriter):
        def __init__(self) -> None:
            self.got: list[str] = []

        def write(self, records: list[Any]) -> None:
            self.got += records

        def close(self) -> Any:
            return None

        def abort(self) -> None:
            pass

    block = text_block("one\n\nthr\u00e9e".encode(), "utf-8")
    assert block is not None and block.count == 3
    part = Lines()
    part.write_text(block)
    assert part.got == ["one", "", "thr\u00e9e"]
    assert text_block(b"a\r\n", "utf-8") is None and text_block(b"\xff\n", "utf-8") is None
    assert text_block("\u00e9\n".encode("utf-16"), "utf-16") is None
