"""The s3 source and sink under etlcore's contract kit, against MinIO (the service harness)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from s3_testlib import objects, put_lines

from etlcore.contract import REMOVE, SinkContract, SourceContract, Target
from etlcore.sink import Sink
from etlcore.source import Source

pytestmark = pytest.mark.services


class TestS3Source(SourceContract):
    plugin_name = "s3"

    def config(self, path: Path) -> dict[str, Any]:
        bucket = self.request.getfixturevalue("s3_bucket_factory")()
        settings = self.request.getfixturevalue("s3_settings")
        return {**settings, "path": f"s3://{bucket}/in", "format": "json",
                "max_files_per_batch": 2}

    def _client_bucket(self, source: Source) -> tuple[Any, str]:
        bucket = source.config.path.split("/")[2]  # type: ignore[attr-defined]
        return self.request.getfixturevalue("s3_client"), bucket

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        client, bucket = self._client_bucket(source)
        out = []
        for f in range(3):
            records = [{"round": round, "file": f, "i": i} for i in range(4)]
            put_lines(client, bucket, f"in/r{round}-f{f}.json", records)
            out.extend(records)
        return out

    def produce_bad(self, source: Source) -> list[Any]:
        client, bucket = self._client_bucket(source)
        client.put_object(Bucket=bucket, Key="in/a.json", Body=b'{"ok": true}\n{oops\n')
        client.put_object(Bucket=bucket, Key="in/b.json.gz",
                          Body=gzip.compress(b'{"n": 1}\n')[:-4])
        return ["{oops", f"s3://{bucket}/in/b.json.gz"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": "/local/dir"}, "path"), ({"path": "s3:///nobucket"}, "path"),
                ({"endpoint_url": "127.0.0.1:9000"}, "endpoint_url"),
                ({"access_key_id": REMOVE}, "secret_access_key"),
                ({"multipart_chunksize": 1024}, "multipart_chunksize"),
                ({"max_files_per_batch": 0}, "max_files_per_batch"),
                ({"min_age_seconds": -1}, "min_age_seconds"),
                ({"path": REMOVE}, "path")]


class TestS3Sink(SinkContract):
    plugin_name = "s3"

    def config(self, path: Path) -> dict[str, Any]:
        bucket = self.request.getfixturevalue("s3_bucket_factory")()
        settings = self.request.getfixturevalue("s3_settings")
        return {**settings, "path": f"s3://{bucket}/out"}

    def sample_records(self) -> list[Any]:
        return [{"id": i, "tags": ["x"] * i} for i in range(6)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Every object under the prefix, unpublished parts included (the strict view)."""
        bucket = target.config["path"].split("/")[2]
        held = objects(self.request.getfixturevalue("s3_client"), bucket, "out/")
        return [(k, v.decode()) for k, v in sorted(held.items())]

    def bad_records(self) -> list[Any]:
        return [{"id": 98, "text": "\ud800"}, {"id": 99, "ratio": float("nan")}]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": ""}, "path"), ({"path": "out/local"}, "path"),
                ({"format": "xml"}, "format"), ({"retries": 0}, "retries"),
                ({"secret_access_key": REMOVE}, "secret_access_key"),
                ({"path": REMOVE}, "path")]


def test_manifest_lists_exactly_the_parts(s3_client: Any, s3_bucket_factory: Any,
                                          s3_settings: dict[str, Any]) -> None:
    from etlcore.batch import BatchInfo
    from etlcore.plugin.registry import get_registry

    bucket = s3_bucket_factory()
    sink = get_registry().get("sink", "s3").build({**s3_settings, "path": f"s3://{bucket}/o"})
    writer = sink.writer()
    batch = BatchInfo(5, 1.0)
    messages = [writer.write(batch, p, [{"p": p}] * p) for p in range(3)]
    assert "o/_manifests/batch-000000000005.json" not in objects(s3_client, bucket)
    sink.commit(batch, messages)
    manifest = json.loads(objects(s3_client, bucket)["o/_manifests/batch-000000000005.json"])
    assert manifest["parts"] == ["batch-000000000005/part-00001.jsonl",
                                 "batch-000000000005/part-00002.jsonl"]
