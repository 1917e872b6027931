"""The directory source and files sink over the FileSystem seam: local and a bucket-like FS."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

from etlcore import BatchInfo
from etlcore.clock import ManualClock
from etlcore.connectors.directory import DirectorySource, DirectorySourceConfig
from etlcore.connectors.files import FilesSink, FilesSinkConfig
from etlcore.plugin import fs as fsmod
from etlcore.plugin.fs import FileInfo, LocalFileSystem, UnknownFileSystemError
from etlcore.source import Rejected, SourceContext
from tests.plugin.test_fs import MemoryFileSystem


class Bucket(MemoryFileSystem):
    """A bucket: no rename, listings with sizes (what an object store offers)."""

    scheme = "bkt"
    atomic_rename: ClassVar[bool] = False

    def list(self, path: Any, start_after: str | None = None):  # type: ignore[override]
        prefix = os.fspath(path).rstrip("/") + "/"
        for key, data in sorted(self.objects.items()):
            name = key[len(prefix):]
            if key.startswith(prefix) and "/" not in name and name > (start_after or ""):
                yield FileInfo(name, len(data), 1)


def source(path: str, fs: Any = None, state: Path | None = None, **config: Any) -> DirectorySource:
    src = DirectorySource(DirectorySourceConfig(path=path, **config), fs=fs)
    src.open(SourceContext("directory-1", ManualClock(), state))
    return src


def records(src: DirectorySource, start: int, end: int) -> list[Any]:
    reader = src.reader()
    reader.open(None)  # type: ignore[arg-type]
    return [r.reason if isinstance(r, Rejected) else r for r in reader.read("0", start, end)]


def test_local_listing_has_sizes_and_starts_after(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode() * 3)
    (tmp_path / "sub").mkdir()
    fs = LocalFileSystem()
    assert sorted((i.name, i.size) for i in fs.list(tmp_path)) == [("a", 3), ("b", 3), ("c", 3)]
    assert sorted(i.name for i in fs.list(tmp_path, start_after="a")) == ["b", "c"]
    assert fs.read(tmp_path / "b", 1, 1) == b"b" and fs.read(tmp_path / "c") == b"ccc"
    assert list(fs.list(tmp_path / "none")) == []


def test_gzip_is_read_and_a_corrupt_one_is_a_dead_letter(tmp_path):
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(b'{"n": 1}\n') + gzip.compress(b'{"n": 2}\n'))
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(b'{"n": 3}\n')[:-6])
    (tmp_path / "c.json.gz").write_bytes(b"not gzip at all")
    src = source(str(tmp_path), format="json", state=tmp_path / "state")
    assert src.plan("0", 0, None) == 3
    got = records(src, 0, 3)
    assert got[:2] == [{"n": 1}, {"n": 2}]
    assert "truncated" in got[2] and "corrupt gzip" in got[3]


def test_after_last_listing_and_min_age_hold_back_young_files(tmp_path):
    for name in ("1.txt", "2.txt"):
        (tmp_path / name).write_text(name)
    os.utime(tmp_path / "1.txt", (1, 1))
    src = source(str(tmp_path), listing="after_last", min_age_seconds=3600)
    assert src.plan("0", 0, None) == 1  # 2.txt is young: it, and names after it, wait
    (tmp_path / "3.txt").write_text("3.txt")
    os.utime(tmp_path / "3.txt", (1, 1))
    assert src.plan("0", 1, None) == 1
    os.utime(tmp_path / "2.txt", (2, 2))
    assert src.plan("0", 1, None) == 3
    assert records(src, 0, 3) == ["1.txt", "3.txt", "2.txt"]  # one scan: by mtime


def test_files_sink_without_rename_publishes_batches_with_manifests():
    Bucket.objects.clear()
    fs = Bucket()
    sink = FilesSink(FilesSinkConfig(path="bkt://b/out"), fs=fs)
    writer = sink.writer()
    batch = BatchInfo(3, 1.0)
    messages = [writer.write(batch, p, [{"p": p}] * p) for p in range(3)]
    parts = ["bkt://b/out/batch-000000000003/part-00001.jsonl",
             "bkt://b/out/batch-000000000003/part-00002.jsonl"]
    assert sorted(Bucket.objects) == parts  # final keys at once, no temp names
    src = source("bkt://b/out", fs=fs, published_only=True, format="json")
    assert src.plan("0", 0, None) == 0  # not published: nothing to read
    sink.commit(batch, messages)
    sink.commit(batch, messages)  # a repeated commit changes nothing
    manifest = json.loads(Bucket.objects["bkt://b/out/_manifests/batch-000000000003.json"])
    assert manifest == {"batch": 3, "parts": [p[len("bkt://b/out/"):] for p in parts]}
    assert src.plan("0", 0, None) == 2
    assert src.plan("0", 2, None) == 2
    assert records(src, 0, 2) == [{"p": 1}, {"p": 2}, {"p": 2}]
    sink.abort(BatchInfo(4, 2.0), [writer.write(BatchInfo(4, 2.0), 0, [{"p": 9}])])
    assert sorted(Bucket.objects) == ["bkt://b/out/_manifests/batch-000000000003.json", *parts]


def test_an_s3_path_without_the_plugin_names_the_package(monkeypatch):
    monkeypatch.setattr(fsmod, "_factories", {k: v for k, v in fsmod._factories.items()
                                              if k not in ("s3", "s3a")})
    monkeypatch.setattr("etlcore.plugin.registry.get_registry", lambda: None)
    with pytest.raises(UnknownFileSystemError, match="pip install etlcore-s3"):
        DirectorySource(DirectorySourceConfig(path="s3://bucket/in"))
    with pytest.raises(UnknownFileSystemError, match="pip install etlcore-s3"):
        FilesSink(FilesSinkConfig(path="s3a://bucket/out"))


def test_file_urls_are_local_paths(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a\n")
    src = source(f"file://{tmp_path / 'in'}")
    assert src.plan("0", 0, None) == 1 and records(src, 0, 1) == ["a"]
    sink = FilesSink(FilesSinkConfig(path=f"file://{tmp_path / 'out'}"))
    batch = BatchInfo(0, 1.0)
    sink.commit(batch, [sink.writer().write(batch, 0, ["x"])])
    assert (tmp_path / "out" / "batch-000000000000" / "part-00000.jsonl").read_text() == '"x"\n'


def test_published_batches_are_listed_after_the_last_manifest_read():
    Bucket.objects.clear()
    fs = Bucket()
    sink = FilesSink(FilesSinkConfig(path="bkt://b/o"), fs=fs)
    src = source("bkt://b/o", fs=fs, published_only=True, listing="after_last", format="json")
    for batch_id in range(3):
        batch = BatchInfo(batch_id, 1.0)
        sink.commit(batch, [sink.writer().write(batch, 0, [{"b": batch_id}])])
        assert src.plan("0", batch_id, None) == batch_id + 1
    assert records(src, 0, 3) == [{"b": 0}, {"b": 1}, {"b": 2}]


@pytest.mark.parametrize("read_ahead", [1, 3, 20])
def test_read_ahead_fetches_files_at_once_and_keeps_their_order(tmp_path, read_ahead):
    """A file system's ``read_ahead`` files are fetched together; records and dead letters
    still come in manifest order, each file read once."""
    import threading

    files = 8
    together = threading.Barrier(min(read_ahead, files), timeout=30)

    class Parallel(LocalFileSystem):
        def __init__(self) -> None:
            self.read_ahead = read_ahead
            self.reads: list[str] = []
            self.lock = threading.Lock()

        def read(self, path: Any, start: int = 0, length: int | None = None) -> bytes:
            with self.lock:
                self.reads.append(os.path.basename(path))
                first = len(self.reads) <= together.parties
            if first:  # the first fetches must be under way at the same time
                together.wait()
            return super().read(path, start, length)

    for f in range(files):
        body = b"\xff\n" if f == 5 else f"{f}-a\n{f}-b\n".encode()
        (tmp_path / f"{f}.txt").write_bytes(body)
    fs = Parallel()
    src = source(str(tmp_path), fs=fs, state=tmp_path / "state")
    end = src.plan("0", 0, None)
    got = records(src, 0, end)
    assert got[:10] == [f"{f}-{s}" for f in range(5) for s in "ab"]
    assert got[10].startswith("not valid utf-8 text")
    assert got[11:] == ["6-a", "6-b", "7-a", "7-b"]
    assert sorted(fs.reads) == [f"{f}.txt" for f in range(files)]
