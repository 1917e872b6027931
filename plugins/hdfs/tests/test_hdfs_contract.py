"""The hdfs source and sink under etlcore's contract kit, against the harness's MiniDFSCluster."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest
from hdfs_testlib import files, put_lines

from etlcore.contract import REMOVE, SinkContract, SourceContract, Target
from etlcore.sink import Sink
from etlcore.source import Source

pytestmark = pytest.mark.services


def _root(url: str) -> str:
    """``hdfs://host:port/a/b`` -> ``/a/b``."""
    return "/" + url.split("/", 3)[3]


class TestHdfsSource(SourceContract):
    plugin_name = "hdfs"

    def config(self, path: Path) -> dict[str, Any]:
        root = self.request.getfixturevalue("hdfs_dir_factory")()
        url = self.request.getfixturevalue("hdfs_url")
        return {**self.request.getfixturevalue("hdfs_settings"), "path": url(f"{root}/in"),
                "format": "json", "max_files_per_batch": 2}

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        client = self.request.getfixturevalue("hdfs_client")
        folder = _root(source.config.path)  # type: ignore[attr-defined]
        out = []
        for f in range(3):
            records = [{"round": round, "file": f, "i": i} for i in range(4)]
            put_lines(client, f"{folder}/r{round}-f{f}.json", records)
            out.extend(records)
        return out

    def produce_bad(self, source: Source) -> list[Any]:
        client = self.request.getfixturevalue("hdfs_client")
        folder = _root(source.config.path)  # type: ignore[attr-defined]
        client.write(f"{folder}/a.json", b'{"ok": true}\n{oops\n', overwrite=True)
        client.write(f"{folder}/b.json.gz", gzip.compress(b'{"n": 1}\n')[:-4], overwrite=True)
        return ["{oops", f"{source.config.path}/b.json.gz"]  # type: ignore[attr-defined]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": "/local/dir"}, "path"), ({"path": "hdfs:///no-host"}, "path"),
                ({"path": "hdfs://127.0.0.1:8020/rpc-port"}, "path"),
                ({"user": " "}, "user"), ({"retries": 0}, "retries"),
                ({"timeout": 0}, "timeout"),
                ({"max_files_per_batch": 0}, "max_files_per_batch"),
                ({"min_age_seconds": -1}, "min_age_seconds"),
                ({"path": REMOVE}, "path")]


class TestHdfsSink(SinkContract):
    plugin_name = "hdfs"

    def config(self, path: Path) -> dict[str, Any]:
        root = self.request.getfixturevalue("hdfs_dir_factory")()
        url = self.request.getfixturevalue("hdfs_url")
        return {**self.request.getfixturevalue("hdfs_settings"), "path": url(f"{root}/out")}

    def sample_records(self) -> list[Any]:
        return [{"id": i, "tags": ["x"] * i} for i in range(6)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Every file under the directory, temp files left over included (the strict view)."""
        held = files(self.request.getfixturevalue("hdfs_client"), _root(target.config["path"]))
        return [(k, v.decode()) for k, v in sorted(held.items())]

    bad_records_policy = "reject"

    def bad_records(self) -> list[Any]:
        return [{"id": 98, "text": "\ud800"}, {"id": 99, "ratio": float("nan")}]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": ""}, "path"), ({"path": "out/local"}, "path"),
                ({"path": "webhdfs://127.0.0.1:9000/x"}, "path"),
                ({"format": "xml"}, "format"), ({"retries": 0}, "retries"),
                ({"retry_cap": -1}, "retry_cap"), ({"path": REMOVE}, "path")]


def test_a_batch_is_visible_only_after_its_commit(hdfs_client: Any, hdfs_dir_factory: Any,
                                                  hdfs_url: Any,
                                                  hdfs_settings: dict[str, Any]) -> None:
    from etlcore.batch import BatchInfo
    from etlcore.plugin.registry import get_registry
    from etlcore.sink import SinkContext

    root = hdfs_dir_factory()
    sink = get_registry().get("sink", "hdfs").build({**hdfs_settings, "path": hdfs_url(root)})
    sink.open(SinkContext("hdfs", "job"))
    writer = sink.writer()
    batch = BatchInfo(5, 1.0)
    killed = [writer.write(batch, p, [{"p": p}] * p) for p in range(3)]  # an attempt that died
    messages = [writer.write(batch, p, [{"p": p}] * p) for p in range(3)]
    temps = sorted(files(hdfs_client, root))
    assert len(temps) == 4 and all(re.fullmatch(
        r"batch-000000000005/\.part-0000[12]\.jsonl\.[0-9a-f]{16}\.tmp", t) for t in temps)
    assert killed[1] != messages[1]  # each attempt stages under its own name
    sink.commit(batch, messages)
    sink.commit(batch, messages)  # a repeated commit (the driver died before recording it)
    held = files(hdfs_client, root)
    assert sorted(held) == ["batch-000000000005/_SUCCESS", "batch-000000000005/part-00001.jsonl",
                            "batch-000000000005/part-00002.jsonl"]
    assert held["batch-000000000005/part-00002.jsonl"] == b'{"p": 2}\n{"p": 2}\n'
