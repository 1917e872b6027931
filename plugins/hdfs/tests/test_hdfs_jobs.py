"""The hdfs source and sink in real jobs against the MiniDFSCluster: runners, formats, and
unreadable files to the dead letters with the file name and the reason."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hdfs_testlib import committed, files, put_lines

from etlcore import StreamingContext

pytestmark = pytest.mark.services


def inputs(client: Any, folder: str, count: int = 12, per_file: int = 25) -> list[Any]:
    """JSON-lines files in ``folder`` (a third gzipped, a third zstd); the records."""
    import zstandard

    out = []
    for f in range(count):
        records = [{"f": f, "i": i, "text": f"é{f}-{i}"} for i in range(per_file)]
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        if f % 3 == 2:
            client.write(f"{folder}/{f:04d}.json.gz", gzip.compress(body))
        elif f % 3 == 1:
            client.write(f"{folder}/{f:04d}.json.zst", zstandard.ZstdCompressor().compress(body))
        else:
            put_lines(client, f"{folder}/{f:04d}.json", records)
        out.extend(records)
    return out


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_round_trip_hdfs_to_hdfs(runner: str, hdfs_client: Any, hdfs_dir_factory: Any,
                                 hdfs_url: Any, hdfs_settings: dict[str, Any],
                                 tmp_path: Path) -> None:
    root = hdfs_dir_factory()
    want = inputs(hdfs_client, f"{root}/in")
    extra = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="rt", runner=runner,
                           parallelism=2, **extra)
    (ctx.source("hdfs", path=hdfs_url(f"{root}/in"), format="json", max_files_per_batch=3,
                listing="after_last", **hdfs_settings)
        .sink("hdfs", path=hdfs_url(f"{root}/out"), **hdfs_settings))
    ctx.run(until_idle=True)
    got = committed(hdfs_client, f"{root}/out")
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    held = files(hdfs_client, f"{root}/out")
    assert sum(k.endswith("/_SUCCESS") for k in held) == 4  # 12 files, 3 per batch
    assert not [k for k in held if ".tmp" in k]  # every temp file was renamed

    # a second job reads the first one's output (part files; hidden and _SUCCESS skipped)
    ctx2 = StreamingContext(1.0, tmp_path / "ckpt2", clock="manual", name="rt2", runner=runner,
                            parallelism=2, **extra)
    parts = [k for k in held if k.endswith(".jsonl")]
    hdfs_client.makedirs(f"{root}/flat")
    for k in parts:  # flatten into one directory, the way a downstream job would be fed
        hdfs_client.rename(f"{root}/out/{k}", f"{root}/flat/{k.replace('/', '-')}")
    (ctx2.source("hdfs", path=hdfs_url(f"{root}/flat"), format="json", **hdfs_settings)
         .sink("hdfs", path=hdfs_url(f"{root}/copy"), format="csv", **hdfs_settings))
    ctx2.run(until_idle=True)
    rows = [row for k, data in sorted(files(hdfs_client, f"{root}/copy").items())
            if k.endswith(".csv") for row in csv.DictReader(io.StringIO(data.decode()))]
    assert sorted((int(r["f"]), int(r["i"]), r["text"]) for r in rows) == [
        (r["f"], r["i"], r["text"]) for r in want]


def test_the_builtin_directory_source_and_files_sink_take_hdfs_urls(
        hdfs_client: Any, hdfs_dir_factory: Any, hdfs_server: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the plugin installed, hdfs:// works everywhere (the user from HADOOP_USER_NAME)."""
    monkeypatch.setenv("HADOOP_USER_NAME", hdfs_server.user)
    root = hdfs_dir_factory()
    want = inputs(hdfs_client, f"{root}/in", count=4, per_file=5)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="builtin")
    (ctx.source("directory", path=f"{hdfs_server.url}{root}/in", format="json")
        .sink("files", path=f"webhdfs://127.0.0.1:{hdfs_server.url.rsplit(':', 1)[1]}{root}/out"))
    ctx.run(until_idle=True)
    got = committed(hdfs_client, f"{root}/out")
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    assert hdfs_client.status(f"{root}/out/batch-000000000000/part-00000.jsonl")["owner"] == (
        hdfs_server.user)


def test_unreadable_files_go_to_the_dead_letters(hdfs_client: Any, hdfs_dir_factory: Any,
                                                 hdfs_url: Any, hdfs_settings: dict[str, Any],
                                                 tmp_path: Path) -> None:
    import zstandard

    root = hdfs_dir_factory()
    put = hdfs_client.write
    put(f"{root}/in/1-good.csv", b"a,b\n1,2\n")
    cut_gz = gzip.compress(b"a,b\n3,4\n")[:-7]
    cut_zst = zstandard.ZstdCompressor().compress(b"a,b\n16,17\n")[:-3]
    put(f"{root}/in/2-corrupt.csv.gz", cut_gz)
    put(f"{root}/in/3-latin1.csv", b"a,b\n5,caf\xe9\n7,8\n")
    put(f"{root}/in/4-badrow.csv", b'a,b\n9,10,11\n"12,13\n14,15\n')
    put(f"{root}/in/5-notgzip.csv.gz", b"plain text")
    put(f"{root}/in/6-cut.csv.zst", cut_zst)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="bad")
    (ctx.source("hdfs", path=hdfs_url(f"{root}/in"), format="csv", max_files_per_batch=2,
                **hdfs_settings).sink("hdfs", path=hdfs_url(f"{root}/out"), **hdfs_settings))
    ctx.run(until_idle=True)
    assert committed(hdfs_client, f"{root}/out") == [
        {"a": "1", "b": "2"}, {"a": "7", "b": "8"}, {"a": "14", "b": "15"}]
    letters = {(d["origin"].split(" ")[0].rsplit("/", 1)[1], d["reason"].split(":")[0])
               for d in ctx.dead_letters}
    assert letters == {
        ("2-corrupt.csv.gz", f"gzip data truncated in the member at byte 0 ({len(cut_gz)} bytes)"),
        ("3-latin1.csv", "not valid utf-8 text"),
        ("4-badrow.csv", "csv"),
        ("5-notgzip.csv.gz", "corrupt gzip data in the member at byte 0"),
        ("6-cut.csv.zst", f"zstd data truncated in the frame at byte 0 ({len(cut_zst)} bytes)"),
    }
    origins = [d["origin"] for d in ctx.dead_letters]
    assert any(o.startswith(hdfs_url(f"{root}/in/3-latin1.csv line 2 (byte 4")) for o in origins)
    assert {d["stage"] for d in ctx.dead_letters} == {"hdfs-1"}  # the source's stage


def test_parquet_round_trip_and_an_unreadable_parquet_file(
        hdfs_client: Any, hdfs_dir_factory: Any, hdfs_url: Any, hdfs_settings: dict[str, Any],
        tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = hdfs_dir_factory()
    want = []
    for f in range(4):
        rows = [{"f": f, "i": i, "tags": ["t"] * (i % 3), "x": i / 4} for i in range(50)]
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), out)
        hdfs_client.write(f"{root}/in/{f}.parquet", out.getvalue())
        want.extend(rows)
    hdfs_client.write(f"{root}/in/9-bad.parquet", b"PAR1 not really")
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="pq", parallelism=2)
    (ctx.source("hdfs", path=hdfs_url(f"{root}/in"), format="parquet", max_files_per_batch=2,
                **hdfs_settings).sink("hdfs", path=hdfs_url(f"{root}/out"), format="parquet",
                                      **hdfs_settings))
    ctx.run(until_idle=True)
    held = files(hdfs_client, f"{root}/out")
    parts = sorted(k for k in held if k.endswith(".parquet"))
    assert parts and all(k.startswith("batch-") and "/part-" in k for k in parts)
    got = [row for k in parts for row in pq.read_table(io.BytesIO(held[k])).to_pylist()]
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    [letter] = ctx.dead_letters
    assert letter["record"] == hdfs_url(f"{root}/in/9-bad.parquet")
    assert letter["reason"].startswith("not a readable Parquet file")


#: CRLF, a line longer than a range, an empty line, multi-byte UTF-8 and no final newline
def test_byte_ranges_of_a_file_give_each_line_once(hdfs_client: Any, hdfs_dir_factory: Any,
                                                   hdfs_url: Any, hdfs_settings: dict[str, Any],
                                                   tmp_path: Path) -> None:
    """OPENs with offset and length cut at newlines tile the file; a job reads its ranges
    as two tasks."""
    from etlcore_hdfs.config import HdfsOptions
    from etlcore_hdfs.fs import HdfsFileSystem

    from etlcore.contract.ranges import SPLIT_BODY, check_byte_ranges

    root = hdfs_dir_factory()
    data = SPLIT_BODY.encode()
    hdfs_client.write(f"{root}/in/big.txt", data)
    check_byte_ranges(HdfsFileSystem(HdfsOptions(**hdfs_settings)), hdfs_url(f"{root}/in/big.txt"),
                      data, hdfs_url(f"{root}/in"), hdfs_settings, "hdfs", tmp_path)


def test_csv_ranges_and_parquet_row_groups_with_ranged_opens(
        hdfs_client: Any, hdfs_dir_factory: Any, hdfs_url: Any, hdfs_settings: dict[str, Any],
        tmp_path: Path) -> None:
    """CSV cut into byte ranges and Parquet into row groups, read by two tasks; a
    row-group part OPENs its row groups' bytes, not the file."""
    from etlcore_hdfs.config import HdfsOptions
    from etlcore_hdfs.fs import HdfsFileSystem

    from etlcore.contract.ranges import check_format_splits

    root = hdfs_dir_factory()
    check_format_splits(
        HdfsFileSystem(HdfsOptions(**hdfs_settings)), hdfs_url(f"{root}/in"),
        lambda name, data: hdfs_client.write(f"{root}/in/{name}", data),
        hdfs_settings, "hdfs", tmp_path)


def test_parse_json_decodes_files_lines_where_they_lie(hdfs_client: Any, hdfs_dir_factory: Any,
                                                       hdfs_url: Any, hdfs_settings: dict[str, Any],
                                                       tmp_path: Path) -> None:
    """Text files (plain, gzip, zstd) reach ``parse_json`` as blocks of their bytes
    (``read_blocks``): the records and dead letters of the same lines read as a list."""
    root = hdfs_dir_factory()
    inputs(hdfs_client, f"{root}/in", count=3, per_file=4)
    hdfs_client.write(f"{root}/in/0009.json", b'{"f": "x"}\nnot json\n\xff\n')

    def job(name: str, before: bool) -> tuple[list[Any], list[Any]]:
        out: list[Any] = []
        ctx = StreamingContext(1.0, tmp_path / name, clock="manual", name=name)
        lines = ctx.source("hdfs", path=hdfs_url(f"{root}/in"), format="text", **hdfs_settings)
        if before:  # an operator first: the lines reach parse_json as a list
            lines = lines.map(lambda r: r)
        (lines.parse_json({"f": "int", "i": "int"}, output="tuple")
            .foreach_batch(lambda _, rows: out.extend(rows)))
        ctx.run(until_idle=True)
        return sorted(out), sorted((d["record"], d["reason"], d.get("origin"))
                                   for d in ctx.dead_letters)

    got = job("blocks", False)
    assert got == job("lists", True)
    assert len(got[0]) == 12 and len(got[1]) == 3
