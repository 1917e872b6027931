"""Large files cut into byte ranges: every line exactly once, whatever the cuts.

A range skips through the first newline at or after its start (unless it
starts at 0) and reads through the first newline at or after its end
(Hadoop's LineRecordReader rule), so ranges that tile a file give each line
once: lines straddling a cut, CRLF split between ``\\r`` and ``\\n``, a file
without a trailing newline, empty ranges and a range inside one long line.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etlcore import StreamingContext
from etlcore.connectors.directory import batch_end, split
from etlcore.connectors.queue import MemorySink
from etlcore.connectors.textfiles import read_files, read_lines
from etlcore.plugin.fs import LocalFileSystem
from etlcore.runners.processes import ProcessRunner
from etlcore.source import Rejected

FS = LocalFileSystem()


def by_ranges(path: Path, cuts: list[int], fmt: str = "text") -> list[object]:
    """The records of ``path`` read as the ranges between consecutive ``cuts``."""
    size = path.stat().st_size
    spans = [(a, b, size) for a, b in pairwise(cuts)]
    return list(read_files(str(path.parent), [path.name] * len(spans), fmt, "utf-8", fs=FS,
                           spans=spans, indexes=list(range(len(spans)))))


def whole(path: Path, fmt: str = "text") -> list[object]:
    return list(read_files(str(path.parent), [path.name], fmt, "utf-8", fs=FS))


lines = st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
                         max_size=30), max_size=12)
endings = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=lines, ending=endings, trailing=st.booleans(), data=st.data())
def test_ranges_give_the_lines_of_the_whole_file(tmp_path, lines, ending, trailing, data):
    text = ending.join(lines) + (ending if trailing and lines else "")
    path = tmp_path / "f.txt"
    path.write_bytes(text.encode("utf-8"))
    size = path.stat().st_size
    inner = data.draw(st.lists(st.integers(0, size), max_size=8))
    cuts = sorted([0, size, *inner])  # repeated cuts are empty ranges
    chunks = [read_lines(FS, str(path), a, b, size, probe=3) for a, b in pairwise(cuts)]
    assert b"".join(c for _, c in chunks) == path.read_bytes()  # tiled: no byte twice or lost
    assert by_ranges(path, cuts) == whole(path)


def test_a_range_inside_one_long_line_reads_nothing_and_the_line_once(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"a\n" + b"x" * 1000 + b"\nb\r\nc")
    size = path.stat().st_size
    assert read_lines(FS, str(path), 100, 200, size) == (100, b"")
    cuts = [0, 1, 100, 200, 1002, 1003, 1006, size]  # 1006: between \r and \n
    assert by_ranges(path, cuts) == ["a", "x" * 1000, "b", "c"]


def test_json_ranges_and_dead_letters_name_the_byte(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{broken\n{"a": 4}\n')
    records = by_ranges(path, [0, 12, 20, path.stat().st_size], "json")
    good = [r for r in records if not isinstance(r, Rejected)]
    bad = [r for r in records if isinstance(r, Rejected)]
    assert good == [{"a": 1}, {"a": 2}, {"a": 4}]
    assert [b.record for b in bad] == ["{broken"]
    assert "byte 18" in bad[0].origin and "r.json" in bad[0].origin


def test_split_cuts_files_into_even_ranges_and_batches_count_files():
    entries = split([{"name": "a", "size": 10, "mtime_ns": 0},
                     {"name": "b", "size": 3, "mtime_ns": 0}], 4)
    assert [(e["name"], e.get("range")) for e in entries] == [
        ("a", [0, 3]), ("a", [3, 6]), ("a", [6, 10]), ("b", None)]
    names = [e["name"] for e in entries]
    assert batch_end(names, 0, 1) == 3 and batch_end(names, 3, 1) == 4
    assert batch_end(names, 0, None) == 4


def lines_of(name: str, n: int) -> list[str]:
    return [json.dumps({"file": name, "i": i, "pad": "p" * (i % 7)}) for i in range(n)]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("runner", ["local", "processes"])
def test_split_files_read_as_parallel_tasks_exactly_once(tmp_path, runner, sink_name):
    """Two partitions read a batch's ranges as two tasks (two worker processes under
    ``processes``); a restart reads only new files, and the manifest logs the ranges."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    expected = []
    for name in ("a.json", "b.json"):
        rows = lines_of(name, 300)
        (inbox / name).write_text("\n".join(rows) + "\n")
        expected += rows

    def run() -> list[str]:
        ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="splits",
                               runner=ProcessRunner(workers=2) if runner == "processes"
                               else runner)
        stream = ctx.source("directory", path=str(inbox), format="text", split_bytes=2000,
                            partitions=2)
        stream.sink("memory", name=sink_name)
        ctx.run(until_idle=True)
        return [r for batch in MemorySink.batches(sink_name).values() for r in batch]

    assert sorted(run()) == sorted(expected)
    manifest = next((tmp_path / "ckpt").rglob("manifest.jsonl")).read_text().splitlines()
    ranges = [json.loads(line)["range"] for line in manifest if '"range"' in line]
    size = (inbox / "a.json").stat().st_size  # 12.8 kB: seven ranges of about 2000 bytes
    assert len(ranges) == 14 and ranges[:2] == [[0, size // 7], [size // 7, 2 * size // 7]]
    # entries are dealt round robin: task 0 reads ranges 0, 2, ..., task 1 ranges 1, 3, ...
    names = ["a.json"] * 7 + ["b.json"] * 7
    per_range = [by_ranges(inbox / n, r) for n, r in zip(names, ranges, strict=True)]
    assert all(per_range) and MemorySink.results(sink_name) == [
        line for k in [*range(0, 14, 2), *range(1, 14, 2)] for line in per_range[k]]
    more = lines_of("c.json", 50)
    (inbox / "c.json").write_text("\n".join(more))  # no trailing newline
    assert sorted(run()) == sorted(expected + more)  # the restart read only c.json


def test_without_a_checkpoint_the_driver_reads_the_ranges(tmp_path, sink_name):
    inbox = tmp_path / "in"
    inbox.mkdir()
    rows = lines_of("a.json", 200)
    (inbox / "a.json").write_text("\r\n".join(rows))
    ctx = StreamingContext(1.0, clock="manual")
    ctx.source("directory", path=str(inbox), split_bytes=1000, partitions=3).sink(
        "memory", name=sink_name)
    ctx.run(until_idle=True)
    assert sorted(MemorySink.results(sink_name)) == sorted(rows)
