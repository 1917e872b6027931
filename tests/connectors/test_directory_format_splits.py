"""CSV files cut into byte ranges and Parquet files cut into row groups: every record once.

A CSV range owns its lines by the LineRecordReader rule and names its fields from the
file's header line (read once per file and process); ``csv_multiline`` files, gzip and
zstd files are never cut. A large Parquet file is cut into row-group ranges from its
footer, logged in the manifest, and a reader fetches only its row groups' bytes.
"""

from __future__ import annotations

import gzip
import json
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etlcore import StreamingContext
from etlcore.clock import ManualClock
from etlcore.connectors.directory import DirectorySource
from etlcore.connectors.queue import MemorySink
from etlcore.connectors.splits import RowGroups, plan_parts, row_group_ranges
from etlcore.connectors.textfiles import csv_headers, read_files
from etlcore.plugin.fs import LocalFileSystem
from etlcore.plugin.registry import get_registry
from etlcore.runners.processes import ProcessRunner
from etlcore.source import Rejected, SourceContext

from .protocol import open_reader

FS = LocalFileSystem()


class CountingFileSystem(LocalFileSystem):
    """The local file system, keeping every ranged read it serves (start, length)."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, int | None]] = []

    def read(self, path, start=0, length=None):  # type: ignore[no-untyped-def]
        self.reads.append((start, length))
        return super().read(path, start, length)


def csv_by_ranges(path: Path, cuts: list[int], header: bool = True,
                  fs: LocalFileSystem = FS) -> list[object]:
    size = path.stat().st_size
    spans = [(a, b, size) for a, b in pairwise(cuts)]
    return list(read_files(str(path.parent), [path.name] * len(spans), "csv", "utf-8", fs=fs,
                           spans=spans, indexes=list(range(len(spans))), csv_header=header))


def csv_whole(path: Path, header: bool = True) -> list[object]:
    return list(read_files(str(path.parent), [path.name], "csv", "utf-8", fs=FS,
                           csv_header=header))


def shown(records: list[object]) -> list[object]:
    """Records, and dead letters as (record, reason): origins of ranges name bytes."""
    return [(r.record, r.reason) if isinstance(r, Rejected) else r for r in records]


cells = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters='\r\n"'),
                max_size=6)
rows = st.lists(st.lists(cells, min_size=1, max_size=4), max_size=10)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, ending=st.sampled_from(["\n", "\r\n"]), blank_first=st.booleans(),
       header=st.booleans(), data=st.data())
def test_csv_ranges_give_the_rows_of_the_whole_file(tmp_path, rows, ending, blank_first,
                                                     header, data):
    """Any cuts: the same rows and dead letters as the file read whole, with a header
    line or without (``csv_header: false``), CRLF, blank lines, rows too wide."""
    lines = [",".join(f'"{c}"' if "," in c else c for c in row) for row in rows]
    text = (ending if blank_first else "") + "a,b,c" + ending + ending.join(lines)
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    csv_headers.clear()  # the same name holds another file each example
    size = path.stat().st_size
    inner = data.draw(st.lists(st.integers(0, size), max_size=6))
    cuts = sorted({0, size, *inner})
    assert shown(csv_by_ranges(path, cuts, header)) == shown(csv_whole(path, header))


def test_a_row_across_a_cut_is_read_once_and_bad_lines_name_their_byte(tmp_path):
    path = tmp_path / "p.csv"
    body = 'name,city\r\nAda,London\r\n"Grace, RA",Arl\xff\r\n"open,x\r\nLin,Paris\r\n'
    path.write_bytes(body.encode("latin-1"))
    cut = body.index("London") + 3  # inside Ada's row
    got = csv_by_ranges(path, [0, cut, body.index("Lin"), path.stat().st_size])
    good = [r for r in got if not isinstance(r, Rejected)]
    bad = [r for r in got if isinstance(r, Rejected)]
    assert good == [{"name": "Ada", "city": "London"}, {"name": "Lin", "city": "Paris"}]
    assert [b.reason.split(":")[0] for b in bad] == ["not valid utf-8 text", "csv"]
    at = body.index('"Grace')
    assert bad[0].origin.startswith(f"{path} byte {at} (") and "Grace" in bad[0].record


@pytest.mark.parametrize("head", [b'a,"b\n', b"a,\xffb\n", b"\n\r\n"])
def test_an_unreadable_or_missing_header_reads_as_in_the_whole_file(tmp_path, head):
    path = tmp_path / "u.csv"
    path.write_bytes(head + b"".join(b"%d,%d\n" % (i, i) for i in range(40)))
    csv_headers.clear()
    size = path.stat().st_size
    got = csv_by_ranges(path, [0, 5, 40, 41, 100, size])
    assert shown(got) == shown(csv_whole(path)) and len(got) >= 39  # "0,0" may be the header
    if head.strip():  # the header line, then every row, refused with the reason
        assert all(isinstance(r, Rejected) for r in got)
        assert got[1].reason.startswith("csv: the header (line 1) is unreadable")


def test_without_a_header_every_line_is_a_row_keyed_like_spark(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("a,b\n1,2,3\n\n4\n")
    want = [{"_c0": "a", "_c1": "b"}, {"_c0": "1", "_c1": "2", "_c2": "3"}, {"_c0": "4"}]
    assert csv_whole(path, header=False) == want
    assert csv_by_ranges(path, [0, 3, 4, 9, path.stat().st_size], header=False) == want


def test_compressed_files_are_never_cut(tmp_path):
    """Planning by name: a gzip or zstd stream decodes only from its start."""
    parquet_file(tmp_path / "t.parquet.gz")  # Parquet bytes; the name says gzip
    (tmp_path / "t.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(b"a\n" * 500))
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(b"{}\n" * 500))
    for name, fmt in [("t.parquet.gz", "parquet"), ("t.csv.zst", "csv"), ("t.json.gz", "json")]:
        entry = {"name": name, "size": (tmp_path / name).stat().st_size, "mtime_ns": 0}
        assert plan_parts(FS, str(tmp_path), [entry], 10, fmt, "utf-8", "auto", False) == [
            entry]
        cut = plan_parts(FS, str(tmp_path), [entry], 10, fmt, "utf-8", "none", False)
        assert len(cut) > 1  # read as uncompressed (compression: none) they would be cut
    entry = {"name": "t.csv.zst", "size": 999, "mtime_ns": 0}
    assert plan_parts(FS, str(tmp_path), [entry], 10, "csv", "utf-8", "none", True) == [entry]


def test_the_header_is_read_once_per_file(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("k,v\n" + "".join(f"{i},{i * i}\n" for i in range(200)))
    size = path.stat().st_size
    fs = CountingFileSystem()
    cuts = [size * i // 8 for i in range(9)]
    csv_headers.clear()
    got = csv_by_ranges(path, cuts, fs=fs)
    assert got == [{"k": str(i), "v": str(i * i)} for i in range(200)]
    header_reads = [r for r in fs.reads if r[0] == 0]
    assert len(header_reads) == 2  # the first range's own read, and the header's once


def parquet_file(path: Path, rows: int = 1000, group: int = 100) -> list[dict[str, object]]:
    records = [{"i": i, "s": f"row-{i}" * (i % 4), "x": i / 8} for i in range(rows)]
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=group,
                   use_dictionary=False)
    return records


def build(folder: Path, state: Path | None = None, **config) -> DirectorySource:
    source = get_registry().get("source", "directory").build({"path": str(folder), **config})
    source.open(SourceContext("directory-1", ManualClock(), state))
    return source


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("parts", [1, 3, 10])
def test_parquet_row_groups_across_parts_read_each_row_once(tmp_path, parts, partitions):
    """1: read whole; 3: a third of the file a part; 10: a part per row group; the parts
    dealt to 1 or 3 tasks."""
    inbox, state = tmp_path / "in", tmp_path / "state"
    inbox.mkdir()
    want = parquet_file(inbox / "t.parquet")
    size = (inbox / "t.parquet").stat().st_size
    source = build(inbox, state, format="parquet", partitions=partitions,
                   split_bytes={1: size, 3: size // 3, 10: 1}[parts])
    end = source.plan("0", 0, None)
    groups = source.manifest.spans[:end]
    if parts == 1:
        assert groups == [None]  # one part: read whole
    else:
        assert all(isinstance(g, RowGroups) and g.count == 10 for g in groups)
        assert [(g.first, g.stop) for g in groups] == list(pairwise(
            [g.first for g in groups] + [10]))  # they tile the row groups
        assert len(groups) == 10 if parts == 10 else 2 <= len(groups) <= 4
    reader = open_reader(source, how="pickle")  # as a worker reads
    got = [r for p in source.partitions() for r in reader.read(p, 0, end)]
    assert sorted(got, key=lambda r: r["i"]) == want


def test_a_parquet_range_fetches_only_its_row_groups(tmp_path):
    path = tmp_path / "t.parquet"
    want = parquet_file(path, rows=4000, group=500)
    size = path.stat().st_size
    meta = pq.ParquetFile(path).metadata
    fs = CountingFileSystem()
    got = []
    for first in range(0, 8, 2):
        fs.reads.clear()
        got += list(read_files(str(tmp_path), ["t.parquet"], "parquet", "utf-8", fs=fs,
                               spans=[RowGroups(first, first + 2, size, 8)]))
        fetched = sum(n or 0 for _, n in fs.reads)
        assert fetched < size / 2, f"row groups {first}-{first + 1} read {fetched} of {size}"
    assert got == want and meta.num_row_groups == 8


def test_row_group_ranges_follow_the_middle_byte():
    assert row_group_ranges([10] * 10, 25) == [(0, 2), (2, 5), (5, 7), (7, 10)]  # middles 5, 15, ...: 25 is in 25-50
    assert row_group_ranges([10] * 10, 100) == [(0, 10)]
    assert row_group_ranges([100], 10) == [(0, 1)]  # one row group: never cut
    assert row_group_ranges([90, 5, 5], 50) == [(0, 1), (1, 3)]


def test_a_replay_reads_the_same_row_groups_and_ranges(tmp_path):
    """A restart with another ``split_bytes`` reads the logged parts, not new ones."""
    inbox, state = tmp_path / "in", tmp_path / "state"
    inbox.mkdir()
    parquet_file(inbox / "a.parquet")
    (inbox / "b.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(300)))
    size = (inbox / "a.parquet").stat().st_size
    first = build(inbox, state, format="parquet", split_bytes=size // 4, partitions=2,
                  pattern="*.parquet")
    end = first.plan("0", 0, None)
    before = [list(open_reader(first).read(p, 0, end)) for p in ("0", "1")]
    again = build(inbox, state, format="parquet", split_bytes=size, partitions=2,
                  pattern="*.parquet")
    assert again.manifest.spans == first.manifest.spans and len(again.manifest.spans) == 4
    assert [list(open_reader(again, how="pickle").read(p, 0, end))
            for p in ("0", "1")] == before
    assert all(before)

    csv_state = tmp_path / "csv-state"
    one = build(inbox, csv_state, format="csv", split_bytes=200, pattern="*.csv")
    end = one.plan("0", 0, None)
    two = build(inbox, csv_state, format="csv", split_bytes=10_000, pattern="*.csv")
    assert two.manifest.spans == one.manifest.spans and end == len(one.manifest.spans) > 1
    assert list(open_reader(two).read("0", 0, end)) == [{"n": str(i)} for i in range(300)]


def corrupt_row_group(path: Path, group: int) -> int:
    """Overwrite the page header of ``group``'s first column chunk; its byte offset."""
    col = pq.ParquetFile(path).metadata.row_group(group).column(0)
    at = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    data = bytearray(path.read_bytes())
    data[at:at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return at


@pytest.mark.timeout(180)
@pytest.mark.parametrize("runner", ["local", "processes"])
def test_bad_parts_go_to_the_dead_letters_and_the_job_goes_on(tmp_path, runner, sink_name):
    inbox = tmp_path / "in"
    inbox.mkdir()
    want = parquet_file(inbox / "1-rg.parquet")
    at = corrupt_row_group(inbox / "1-rg.parquet", 3)
    parquet_file(inbox / "2-footer.parquet")
    data = (inbox / "2-footer.parquet").read_bytes()
    cut = data[:-12] + b"\xff" * 4 + data[-8:]  # the footer's last bytes: it does not parse
    (inbox / "2-footer.parquet").write_bytes(cut)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="bad",
                           runner=ProcessRunner(workers=2) if runner == "processes" else runner)
    ctx.source("directory", path=str(inbox), format="parquet", split_bytes=3000,
               partitions=2).sink("memory", name=sink_name)
    ctx.run(until_idle=True)
    got = MemorySink.results(sink_name)
    assert sorted(got, key=lambda r: r["i"]) == [r for r in want if not 300 <= r["i"] < 400]
    letters = sorted(ctx.dead_letters, key=lambda d: d["record"])
    assert [d["record"] for d in letters] == [str(inbox / "1-rg.parquet"),
                                              str(inbox / "2-footer.parquet")]
    assert letters[0]["reason"].startswith("not a readable Parquet file: row group 3:")
    assert letters[0]["origin"].startswith(f"{inbox / '1-rg.parquet'} row group 3 (byte {at},")
    assert letters[1]["reason"].startswith("not a readable Parquet file")
    manifest = [json.loads(line) for line in
                next((tmp_path / "ckpt").rglob("manifest.jsonl")).read_text().splitlines()]
    assert {e["name"] for e in manifest if "row_groups" in e} == {"1-rg.parquet"}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("runner", ["local", "processes"])
def test_csv_files_split_in_a_job_and_some_files_are_never_split(tmp_path, runner, sink_name):
    """Plain CSV is cut; gzip, zstd and ``csv_multiline`` files are read whole."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    body = "id,text\r\n" + "".join(f'{i},"t, {i}"\r\n' for i in range(400))
    want = [{"id": str(i), "text": f"t, {i}"} for i in range(400)]
    (inbox / "a.csv").write_text(body, newline="")
    (inbox / "b.csv.gz").write_bytes(gzip.compress(body.encode()))
    (inbox / "c.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(body.encode()))

    def run(folder: Path, multiline: bool) -> list[dict[str, object]]:
        ctx = StreamingContext(1.0, tmp_path / f"ckpt-{multiline}", clock="manual", name="csv",
                               runner=ProcessRunner(workers=2) if runner == "processes"
                               else runner)
        ctx.source("directory", path=str(folder), format="csv", split_bytes=1000,
                   partitions=2, csv_multiline=multiline).sink("memory", name=sink_name)
        ctx.run(until_idle=True)
        manifest = next((tmp_path / f"ckpt-{multiline}").rglob("manifest.jsonl"))
        return [json.loads(line) for line in manifest.read_text().splitlines()]

    entries = run(inbox, False)
    got = MemorySink.results(sink_name)
    assert sorted(got, key=lambda r: (int(r["id"]), r["text"])) == sorted(
        want * 3, key=lambda r: (int(r["id"]), r["text"]))
    cut = [e["name"] for e in entries if "range" in e]
    assert set(cut) == {"a.csv"} and len(cut) == -(-len(body) // 1000)

    MemorySink.clear(sink_name)
    multi = tmp_path / "multi"
    multi.mkdir()
    (multi / "m.csv").write_text(body.replace('"t, 7"', '"t,\r\n 7"'), newline="")
    entries = run(multi, True)
    assert [e.get("range") for e in entries] == [None]
    got = MemorySink.results(sink_name)
    assert len(got) == 400 and {"id": "7", "text": "t,\r\n 7"} in got
