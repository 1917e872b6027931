"""The s3 source and sink in real jobs against MinIO: runners, formats, dead letters."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from s3_testlib import objects, published, put_lines

from etlcore import StreamingContext

pytestmark = pytest.mark.services


def inputs(client: Any, bucket: str, files: int = 12, per_file: int = 25) -> list[Any]:
    """JSON-lines objects under ``in/`` (a third gzipped, a third zstd); the records."""
    import zstandard

    out = []
    for f in range(files):
        records = [{"f": f, "i": i, "text": f"é{f}-{i}"} for i in range(per_file)]
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        if f % 3 == 2:
            client.put_object(Bucket=bucket, Key=f"in/{f:04d}.json.gz", Body=gzip.compress(body))
        elif f % 3 == 1:
            client.put_object(Bucket=bucket, Key=f"in/{f:04d}.json.zst",
                              Body=zstandard.ZstdCompressor().compress(body))
        else:
            put_lines(client, bucket, f"in/{f:04d}.json", records)
        out.extend(records)
    return out


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_round_trip_s3_to_s3(runner: str, s3_client: Any, s3_bucket_factory: Any,
                             s3_settings: dict[str, Any], tmp_path: Path) -> None:
    bucket = s3_bucket_factory()
    want = inputs(s3_client, bucket)
    extra = {"workers": 2} if runner == "processes" else {}
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="rt", runner=runner,
                           parallelism=2, **extra)
    (ctx.source("s3", path=f"s3://{bucket}/in", format="json", max_files_per_batch=3,
                listing="after_last", **s3_settings)
        .sink("s3", path=f"s3://{bucket}/out", **s3_settings))
    ctx.run(until_idle=True)
    got = published(s3_client, bucket, "out")
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    manifests = [k for k in objects(s3_client, bucket, "out/_manifests/")]
    assert len(manifests) == 4  # 12 files, 3 per batch

    # a second job reads the first one's output, honouring its manifests
    ctx2 = StreamingContext(1.0, tmp_path / "ckpt2", clock="manual", name="rt2", runner=runner,
                            parallelism=2, **extra)
    (ctx2.source("s3", path=f"s3://{bucket}/out", format="json", published_only=True,
                 **s3_settings)
         .sink("s3", path=f"s3://{bucket}/copy", format="csv", **s3_settings))
    ctx2.run(until_idle=True)
    rows = [row for key, data in sorted(objects(s3_client, bucket, "copy/batch-").items())
            for row in csv.DictReader(io.StringIO(data.decode()))]
    assert sorted((int(r["f"]), int(r["i"]), r["text"]) for r in rows) == [
        (r["f"], r["i"], r["text"]) for r in want]


def test_objects_of_an_unpublished_batch_are_not_read(s3_client: Any, s3_bucket_factory: Any,
                                                      s3_settings: dict[str, Any],
                                                      tmp_path: Path) -> None:
    bucket = s3_bucket_factory()
    put_lines(s3_client, bucket, "out/batch-000000000000/part-00000.jsonl", [{"n": 1}])
    put_lines(s3_client, bucket, "out/batch-000000000001/part-00000.jsonl", [{"n": 2}])
    s3_client.put_object(Bucket=bucket, Key="out/_manifests/batch-000000000000.json",
                         Body=json.dumps({"batch": 0, "parts": [
                             "batch-000000000000/part-00000.jsonl"]}).encode())
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="pub")
    (ctx.source("s3", path=f"s3://{bucket}/out", format="json", published_only=True,
                **s3_settings).sink("s3", path=f"s3://{bucket}/copy", **s3_settings))
    ctx.run(until_idle=True)
    assert published(s3_client, bucket, "copy") == [{"n": 1}]


def test_the_builtin_directory_source_and_files_sink_take_s3_urls(
        s3_client: Any, s3_bucket_factory: Any, s3_endpoint: str, s3_credentials: Any,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the plugin installed, s3:// works everywhere; settings from the AWS environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_credentials.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_credentials.region)
    bucket = s3_bucket_factory()
    want = inputs(s3_client, bucket, files=4, per_file=5)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="builtin")
    (ctx.source("directory", path=f"s3a://{bucket}/in", format="json")
        .sink("files", path=f"s3://{bucket}/out"))
    ctx.run(until_idle=True)
    assert sorted(published(s3_client, bucket, "out"), key=lambda r: (r["f"], r["i"])) == want


def test_unreadable_objects_go_to_the_dead_letters(s3_client: Any, s3_bucket_factory: Any,
                                                   s3_settings: dict[str, Any],
                                                   tmp_path: Path) -> None:
    import zstandard

    bucket = s3_bucket_factory()
    put = s3_client.put_object
    put(Bucket=bucket, Key="in/1-good.csv", Body=b"a,b\n1,2\n")
    cut_gz = gzip.compress(b"a,b\n3,4\n")[:-7]
    cut_zst = zstandard.ZstdCompressor().compress(b"a,b\n16,17\n")[:-3]
    put(Bucket=bucket, Key="in/2-corrupt.csv.gz", Body=cut_gz)
    put(Bucket=bucket, Key="in/3-latin1.csv", Body=b"a,b\n5,caf\xe9\n7,8\n")
    put(Bucket=bucket, Key="in/4-badrow.csv", Body=b'a,b\n9,10,11\n"12,13\n14,15\n')
    put(Bucket=bucket, Key="in/5-notgzip.csv.gz", Body=b"plain text")
    put(Bucket=bucket, Key="in/6-cut.csv.zst", Body=cut_zst)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="bad")
    (ctx.source("s3", path=f"s3://{bucket}/in", format="csv", max_files_per_batch=2,
                **s3_settings).sink("s3", path=f"s3://{bucket}/out", **s3_settings))
    ctx.run(until_idle=True)
    assert published(s3_client, bucket, "out") == [
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
    by_key = {d["origin"]: d for d in ctx.dead_letters}
    assert any(o.startswith(f"s3://{bucket}/in/3-latin1.csv line 2 (byte 4") for o in by_key)
    assert {d["stage"] for d in ctx.dead_letters} == {"s3-1"}  # the source's stage


def test_parquet_round_trip_and_an_unreadable_parquet_object(
        s3_client: Any, s3_bucket_factory: Any, s3_settings: dict[str, Any],
        tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    bucket = s3_bucket_factory()
    want = []
    for f in range(4):
        rows = [{"f": f, "i": i, "tags": ["t"] * (i % 3), "x": i / 4} for i in range(50)]
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), out)
        s3_client.put_object(Bucket=bucket, Key=f"in/{f}.parquet", Body=out.getvalue())
        want.extend(rows)
    s3_client.put_object(Bucket=bucket, Key="in/9-bad.parquet", Body=b"PAR1 not really")
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="pq", parallelism=2)
    (ctx.source("s3", path=f"s3://{bucket}/in", format="parquet", max_files_per_batch=2,
                **s3_settings).sink("s3", path=f"s3://{bucket}/out", format="parquet",
                                    **s3_settings))
    ctx.run(until_idle=True)
    held = objects(s3_client, bucket, "out/")
    parts = sorted(k for k in held if k.endswith(".parquet"))
    assert parts and all(k.startswith("out/batch-") for k in parts)
    got = [row for k in parts for row in pq.read_table(io.BytesIO(held[k])).to_pylist()]
    assert sorted(got, key=lambda r: (r["f"], r["i"])) == want
    [letter] = ctx.dead_letters
    assert letter["record"] == f"s3://{bucket}/in/9-bad.parquet"
    assert letter["reason"].startswith("not a readable Parquet file")


#: CRLF, a line longer than a range, an empty line, multi-byte UTF-8 and no final newline
def test_byte_ranges_of_an_object_give_each_line_once(s3_client: Any, s3_bucket_factory: Any,
                                                      s3_settings: dict[str, Any],
                                                      tmp_path: Path) -> None:
    """Ranged GETs cut at newlines tile the object; a job reads its ranges as two tasks."""
    from etlcore_s3.config import S3Options
    from etlcore_s3.fs import S3FileSystem

    from etlcore.contract.ranges import SPLIT_BODY, check_byte_ranges

    bucket = s3_bucket_factory()
    data = SPLIT_BODY.encode()
    s3_client.put_object(Bucket=bucket, Key="in/big.txt", Body=data)
    check_byte_ranges(S3FileSystem(S3Options(**s3_settings)), f"s3://{bucket}/in/big.txt", data,
                      f"s3://{bucket}/in", s3_settings, "s3", tmp_path)



def test_csv_ranges_and_parquet_row_groups_with_ranged_gets(
        s3_client: Any, s3_bucket_factory: Any, s3_settings: dict[str, Any],
        tmp_path: Path) -> None:
    """CSV cut into byte ranges and Parquet into row groups, read by two tasks; a
    row-group part GETs its row groups' bytes, not the object."""
    from etlcore_s3.config import S3Options
    from etlcore_s3.fs import S3FileSystem

    from etlcore.contract.ranges import check_format_splits

    bucket = s3_bucket_factory()
    check_format_splits(
        S3FileSystem(S3Options(**s3_settings)), f"s3://{bucket}/in",
        lambda name, data: s3_client.put_object(Bucket=bucket, Key=f"in/{name}", Body=data),
        s3_settings, "s3", tmp_path)


def test_parse_json_decodes_objects_lines_where_they_lie(s3_client: Any, s3_bucket_factory: Any,
                                                         s3_settings: dict[str, Any],
                                                         tmp_path: Path) -> None:
    """Text objects (plain, gzip, zstd) reach ``parse_json`` as blocks of their bytes
    (``read_blocks``): the records and dead letters of the same lines read as a list."""
    bucket = s3_bucket_factory()
    inputs(s3_client, bucket, files=3, per_file=4)
    s3_client.put_object(Bucket=bucket, Key="in/0009.json", Body=b'{"f": "x"}\nnot json\n\xff\n')

    def job(name: str, before: bool) -> tuple[list[Any], list[Any]]:
        out: list[Any] = []
        ctx = StreamingContext(1.0, tmp_path / name, clock="manual", name=name)
        lines = ctx.source("s3", path=f"s3://{bucket}/in", format="text", **s3_settings)
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
