"""Checks that need no server: config errors name the key before a job runs, the missing
client is one line with the pip command, secrets stay out of reprs, the fs pickles."""

from __future__ import annotations

import pickle
import sys

import pytest

from etlcore import StreamingContext
from etlcore.errors import ConfigError
from etlcore.plugin.fs import filesystem_for
from etlcore.plugin.imports import MissingDependencyError
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext

SECRET = "s3cr3t-value-123"


def test_a_bad_config_fails_before_the_job_runs_naming_the_key() -> None:
    ctx = StreamingContext(1.0, clock="manual")
    ran = []
    stream = ctx.queue_stream([[{"a": 1}]]).map(lambda r: ran.append(r) or r)
    with pytest.raises(ConfigError) as err:
        stream.sink("s3", path="s3://b/out", multipart_threshold=1000)
        ctx.run(until_idle=True)
    assert err.value.key.endswith("multipart_threshold")
    assert ran == []
    with pytest.raises(ConfigError, match="s3://bucket/prefix"):
        ctx.source("s3", path="/tmp/not-s3")
    with pytest.raises(ConfigError) as err:
        ctx.source("s3", path="s3://b/in", read_ahead=0)
    assert err.value.key.endswith("read_ahead")


def test_without_boto3_the_error_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    sink = get_registry().get("sink", "s3").build({"path": "s3://b/out"})
    with pytest.raises(MissingDependencyError, match=r"pip install 'etlcore-s3'"):
        sink.open(SinkContext("s3", "job"))


def test_secrets_stay_out_of_reprs_and_the_fs_pickles_without_a_client() -> None:
    config = {"path": "s3://b/in", "access_key_id": "AKIA-TEST", "secret_access_key": SECRET,
              "endpoint_url": "http://127.0.0.1:1"}
    source = get_registry().get("source", "s3").build(config)
    sink = get_registry().get("sink", "s3").build({**config, "path": "s3://b/out"})
    for obj in (source, sink, source.fs, sink.writer(), source.config, sink.config):
        assert SECRET not in repr(obj)
    fs = source.fs
    fs._client = object()  # a "client": must not travel
    shipped = pickle.loads(pickle.dumps(fs))
    assert shipped._client is None and shipped == fs and shipped.read_ahead == 4


def test_plain_s3_paths_use_the_plugin_once_it_is_loaded() -> None:
    get_registry()
    fs = filesystem_for("s3a://bucket/x")
    assert type(fs).__name__ == "S3FileSystem" and not fs.atomic_rename


def test_parquet_records_that_do_not_fit_the_schema_are_rejected_with_the_reason() -> None:
    import io

    import pyarrow.parquet as pq

    sink = get_registry().get("sink", "s3").build({"path": "s3://b/out", "format": "parquet"})
    data, rejected = sink.encode([{"a": 1, "b": "x"}, {"a": 2, "c": [1.5]}, {"a": "two"}, 7])
    assert [r for r, _ in rejected] == [{"a": "two"}]
    assert all("does not fit the partition's Parquet schema" in why for _, why in rejected)
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    assert rows == [{"a": 1, "b": "x", "c": None, "value": None},
                    {"a": 2, "b": None, "c": [1.5], "value": None},
                    {"a": None, "b": None, "c": None, "value": 7}]


@pytest.mark.parametrize("bad", ["s3://", "s3:///jobs/wc", "s3a://"])
def test_checkpoint_url_without_a_bucket_names_the_key(bad: str) -> None:
    from etlcore import StreamingContext

    with pytest.raises(ConfigError) as err:
        StreamingContext(1.0, bad)
    assert err.value.key == "checkpoint" and "with a bucket" in str(err.value)


def test_parts_skip_the_crc32_only_where_sigv4_signs_the_body(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Over plain HTTP botocore signs each body's SHA-256; over HTTPS the CRC32 stays."""
    from etlcore_s3.fs import S3FileSystem, request_checksums

    assert request_checksums("http://127.0.0.1:9000") == "when_required"
    assert request_checksums("HTTP://minio:9000") == "when_required"
    assert request_checksums("https://s3.example.com") == "when_supported"
    assert request_checksums(None) == "when_supported"  # AWS: https
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the endpoint from the env
    plain = filesystem_for("s3://b/x", load_plugins=True)
    assert isinstance(plain, S3FileSystem) and plain.options.endpoint_url is None
    assert plain._make_client().meta.config.request_checksum_calculation == "when_required"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://127.0.0.1:9")
    tls = plain._make_client()
    assert tls.meta.config.request_checksum_calculation == "when_supported"
