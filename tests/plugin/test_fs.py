"""The file-system interface: local, and a staged sink on an object-store-like FS."""

from __future__ import annotations

import io
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import pytest

from etlcore import BatchInfo
from etlcore.config import option
from etlcore.contract import SinkContract, Target
from etlcore.plugin import fs as fsmod
from etlcore.plugin.fs import (
    FileSystem,
    LocalFileSystem,
    UnknownFileSystemError,
    filesystem_for,
    register_filesystem,
)
from etlcore.sink import Sink, StagedFileSink


class MemoryFileSystem(FileSystem):
    """A flat key -> bytes store shared by every instance in the process (like a bucket)."""

    scheme = "mem"
    objects: ClassVar[dict[str, bytes]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def open(self, path: Any, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        key = os.fspath(path)
        if "r" in mode:
            data = self.objects[key]
            return io.BytesIO(data) if "b" in mode else io.StringIO(data.decode())
        store = self

        class Upload(io.BytesIO if "b" in mode else io.StringIO):  # type: ignore[misc]
            def close(self) -> None:
                value = self.getvalue()
                store.write(key, value if isinstance(value, bytes) else value.encode())
                super().close()

        return Upload()

    def write(self, path: Any, data: bytes) -> None:
        with self.lock:
            self.objects[os.fspath(path)] = data

    def rename(self, src: Any, dst: Any) -> None:  # copy, then delete: no rename in a bucket
        with self.lock:
            self.objects[os.fspath(dst)] = self.objects.pop(os.fspath(src))

    def exists(self, path: Any) -> bool:
        key = os.fspath(path)
        return key in self.objects or any(k.startswith(key + "/") for k in self.objects)

    def listdir(self, path: Any) -> list[str]:
        prefix = os.fspath(path).rstrip("/") + "/"
        return sorted({k[len(prefix):].split("/")[0] for k in self.objects if k.startswith(prefix)})

    def mkdirs(self, path: Any) -> None:
        pass

    def remove(self, path: Any) -> None:
        with self.lock:
            self.objects.pop(os.fspath(path), None)


@dataclass
class MemFilesConfig:
    bucket: str = option(help="bucket name")


class MemFilesSink(StagedFileSink):
    """JSON lines staged under ``mem://<bucket>/``: StagedFileSink with another ``fs``."""

    fs = MemoryFileSystem()

    def __init__(self, config: MemFilesConfig):
        self.bucket = config.bucket

    def final_path(self, batch: BatchInfo, partition: int) -> str:  # type: ignore[override]
        return f"mem://{self.bucket}/batch-{batch.batch_id:06d}/part-{partition:03d}.jsonl"

    def write_file(self, path: Any, records: list[Any]) -> None:
        with self.fs.open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)


def test_local_file_system(tmp_path: Path):
    fs = LocalFileSystem()
    d = tmp_path / "a" / "b"
    fs.mkdirs(d)
    fs.write(d / "x.tmp", b"data")
    fs.sync(d / "x.tmp")
    fs.rename(d / "x.tmp", d / "x")
    fs.sync(d)
    assert fs.exists(d / "x") and not fs.exists(d / "x.tmp")
    assert fs.listdir(d) == ["x"] and fs.listdir(tmp_path / "none") == []
    with fs.open(d / "x") as f:
        assert f.read() == b"data"
    fs.remove(d / "x")
    fs.remove(d / "x")  # missing: fine
    assert fs.listdir(d) == [] and LocalFileSystem() == fs


def test_filesystem_for_picks_by_scheme(monkeypatch):
    # as without the etlcore-s3 plugin (installed, it registers s3:// when it loads)
    monkeypatch.setattr(fsmod, "_factories", {k: v for k, v in fsmod._factories.items()
                                              if k not in ("s3", "s3a")})
    assert isinstance(filesystem_for("/data/out"), LocalFileSystem)
    assert isinstance(filesystem_for("file:///data/out"), LocalFileSystem)
    assert isinstance(filesystem_for("C:/not-a-scheme"), LocalFileSystem)
    with pytest.raises(UnknownFileSystemError, match="pip install etlcore-s3"):
        filesystem_for("s3://bucket/out")
    with pytest.raises(UnknownFileSystemError, match="no installed plugin registers it"):
        filesystem_for("gopher://x")
    register_filesystem("mem", MemoryFileSystem)
    assert isinstance(filesystem_for("MEM://bucket/x"), MemoryFileSystem)


def test_the_staged_sink_publishes_only_at_commit_on_any_fs():
    sink = MemFilesSink(MemFilesConfig("b1"))
    writer = sink.writer()
    messages = [writer.write(BatchInfo(0, 1.0), p, [{"p": p}]) for p in range(2)]
    assert sorted(k for k in MemoryFileSystem.objects if k.startswith("mem://b1/")) == [
        "mem://b1/batch-000000/.part-000.jsonl.tmp", "mem://b1/batch-000000/.part-001.jsonl.tmp"]
    sink.commit(BatchInfo(0, 1.0), messages)
    assert MemoryFileSystem().listdir("mem://b1/batch-000000") == ["part-000.jsonl",
                                                                   "part-001.jsonl"]


class TestStagedSinkOnAnotherFileSystem(SinkContract):
    """The contract holds for StagedFileSink over the interface alone (no os calls)."""

    connector_class = MemFilesSink
    config_class = MemFilesConfig

    def config(self, path: Path) -> dict[str, Any]:
        return {"bucket": path.name}

    def sample_records(self) -> list[Any]:
        return [{"i": i} for i in range(5)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        prefix = f"mem://{target.config['bucket']}/"
        return sorted((k[len(prefix):], v.decode()) for k, v in MemoryFileSystem.objects.items()
                      if k.startswith(prefix))
