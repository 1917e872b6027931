"""Checks that need no server: config errors name the key before a job runs, the missing
client is one line with the pip command, the fs pickles without its clients, and a dead
NameNode is one clear error after the retries, not a traceback from the HTTP library."""

from __future__ import annotations

import pickle
import socket
import sys

import pytest

from etlcore import StreamingContext
from etlcore.errors import ConfigError, EtlcoreError
from etlcore.plugin.fs import filesystem_for
from etlcore.plugin.imports import MissingDependencyError
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext


def test_a_bad_config_fails_before_the_job_runs_naming_the_key() -> None:
    ctx = StreamingContext(1.0, clock="manual")
    ran = []
    stream = ctx.queue_stream([[{"a": 1}]]).map(lambda r: ran.append(r) or r)
    with pytest.raises(ConfigError) as err:
        stream.sink("hdfs", path="hdfs://nn:9870/out", read_ahead=0)
        ctx.run(until_idle=True)
    assert err.value.key.endswith("read_ahead")
    assert ran == []
    with pytest.raises(ConfigError, match="hdfs://host:port/path"):
        ctx.source("hdfs", path="/tmp/not-hdfs")
    with pytest.raises(ConfigError, match="RPC port"):
        ctx.source("hdfs", path="hdfs://nn:8020/in")


def test_without_hdfscli_the_error_names_the_pip_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import etlcore_hdfs.fs as hdfsfs

    monkeypatch.setitem(sys.modules, "hdfs", None)
    monkeypatch.setattr(hdfsfs, "_client_class", None)
    sink = get_registry().get("sink", "hdfs").build({"path": "hdfs://127.0.0.1:1/out"})
    with pytest.raises(MissingDependencyError, match=r"pip install 'etlcore-hdfs'"):
        sink.open(SinkContext("hdfs", "job"))


def test_the_fs_pickles_without_its_clients_and_hdfs_urls_use_it() -> None:
    source = get_registry().get("source", "hdfs").build(
        {"path": "hdfs://127.0.0.1:1/in", "user": "etl"})
    fs = source.fs
    fs._clients["127.0.0.1:1"] = object()  # a "client": must not travel
    shipped = pickle.loads(pickle.dumps(fs))
    assert shipped._clients == {} and shipped == fs and shipped.read_ahead == 4
    for url in ("hdfs://nn:9870/x", "webhdfs://nn/x"):
        assert type(filesystem_for(url)).__name__ == "HdfsFileSystem"
        assert filesystem_for(url).atomic_rename


def test_a_dead_namenode_is_one_clear_error_after_the_retries() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = get_registry().get("sink", "hdfs").build(
        {"path": f"hdfs://127.0.0.1:{port}/out", "retries": 2, "retry_cap": 0.05})
    with pytest.raises(EtlcoreError) as err:
        sink.open(SinkContext("hdfs", "job"))
    assert not isinstance(err.value, OSError)  # never mistaken for an unreadable file
    text = str(err.value)
    assert f"HDFS at http://127.0.0.1:{port} did not answer GETFILESTATUS" in text
    assert "in 2 attempts: ConnectionError" in text


@pytest.mark.parametrize("bad", ["hdfs://", "hdfs:///jobs/wc"])
def test_checkpoint_url_without_a_namenode_names_the_key(bad: str) -> None:
    from etlcore import StreamingContext

    with pytest.raises(ConfigError) as err:
        StreamingContext(1.0, bad)
    assert err.value.key == "checkpoint" and "hdfs://host:port/path" in str(err.value)


@pytest.mark.parametrize(("env", "url", "trusted"), [
    ({}, "http://nn:9870", False),
    ({"HTTP_PROXY": "http://proxy:3128"}, "http://nn:9870", True),
    ({"no_proxy": "*", "https_proxy": "http://proxy:3128"}, "http://nn:9870", True),
    ({"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"}, "https://nn:9871", True),
    ({"CURL_CA_BUNDLE": "/etc/ssl/bundle.pem"}, "https://nn:9871", True),
    ({"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"}, "http://nn:9870", False),  # https only
    ("netrc", "http://nn:9870", True)])
def test_the_session_reads_the_environment_only_when_it_holds_something(
        env: dict[str, str] | str, url: str, trusted: bool, monkeypatch: pytest.MonkeyPatch,
        tmp_path: object) -> None:
    import os
    from pathlib import Path

    from etlcore_hdfs.fs import session_for

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    netrc = Path(str(tmp_path)) / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))  # no file: no credentials
    if env == "netrc":
        netrc.write_text("machine nn login etl password secret\n")
    else:
        for name, value in env.items():  # type: ignore[union-attr]
            monkeypatch.setenv(name, value)
    # requests' own default (trust_env) wherever the environment names something for it;
    # the direct OPEN path (etlcore_hdfs.reads) is taken exactly where the session skips it
    from etlcore_hdfs.reads import usable

    assert session_for(url).trust_env == trusted
    assert usable(url) == (not trusted)
