"""OPEN on urllib3's pool (``etlcore_hdfs.reads``) against HdfsCLI's read, on the cluster."""

from __future__ import annotations

import os
from typing import Any

import pytest
from etlcore_hdfs import reads
from etlcore_hdfs.config import HdfsOptions, split_url
from etlcore_hdfs.fs import HdfsFileSystem, HdfsUnavailableError

pytestmark = pytest.mark.services


@pytest.fixture
def fs(hdfs_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> HdfsFileSystem:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # the cluster speaks http: no
        monkeypatch.setenv(name, "/etc/ssl/certs/ca-certificates.crt")  # matter either way
    return HdfsFileSystem(HdfsOptions(**hdfs_settings))


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int | None]]:
    """The reads that went through the pool, as (path, start, length)."""
    calls: list[tuple[str, int, int | None]] = []
    read = reads.Reader.read

    def counted(self: reads.Reader, base: str, path: str, start: int,
                length: int | None) -> bytes:
        calls.append((path, start, length))
        return read(self, base, path, start, length)

    monkeypatch.setattr(reads.Reader, "read", counted)
    return calls


@pytest.mark.parametrize(("start", "length"), [(0, None), (0, 10), (5, None), (123_457, 1 << 20),
                                               (2_999_000, 5000), (2_999_999, None)])
def test_ranges_are_the_bytes_hdfscli_reads(start: int, length: int | None, fs: HdfsFileSystem,
                                            direct: list[Any], hdfs_client: Any,
                                            hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    root = hdfs_dir_factory()
    body = os.urandom(3_000_000)
    hdfs_client.write(f"{root}/a file+%.bin", body)  # a name that must be quoted
    with hdfs_client.read(f"{root}/a file+%.bin", offset=start, length=length) as reader:
        theirs = reader.read()
    ours = fs.read(hdfs_url(f"{root}/a file+%.bin"), start, length)
    assert ours == theirs == body[start:None if length is None else start + length]
    assert direct == [(f"{root}/a file+%.bin", start, length)]


def test_a_missing_file_is_file_not_found(fs: HdfsFileSystem, direct: list[Any],
                                          hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        fs.read(hdfs_url(f"{hdfs_dir_factory()}/nothing"))
    assert direct  # the answer came through the pool, as HdfsCLI's error


def test_a_folder_is_no_file_and_is_not_retried(fs: HdfsFileSystem, direct: list[Any],
                                                hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    root = hdfs_dir_factory()
    with pytest.raises(FileNotFoundError, match="no such file"):  # "Path is not a file"
        fs.read(hdfs_url(root))
    assert len(direct) == 1  # a Java FileNotFoundException, not a transient error


def test_a_dead_namenode_is_retried_then_named(direct: list[Any]) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = HdfsFileSystem(HdfsOptions(retries=2, retry_cap=0.01, timeout=1.0))
    with pytest.raises(HdfsUnavailableError, match=f"127.0.0.1:{port} did not answer OPEN"):
        dead.read(f"hdfs://127.0.0.1:{port}/x")
    assert len(direct) == 2  # both attempts on the pool


def test_a_proxy_in_the_environment_keeps_reads_on_hdfscli(
        fs: HdfsFileSystem, direct: list[Any], hdfs_client: Any, hdfs_dir_factory: Any,
        hdfs_url: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = hdfs_dir_factory()
    hdfs_client.write(f"{root}/f", b"hello")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing there: unused if honoured
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    fresh = HdfsFileSystem(fs.options)
    assert fresh.read(hdfs_url(f"{root}/f")) == b"hello"
    assert direct == []
    assert not reads.usable(fresh.base_url(split_url(hdfs_url(root))[0]))


def test_https_reads_trust_the_cas_requests_trusts() -> None:
    import requests.utils

    pool = reads.Reader("etl", 1.0).pool()
    assert pool.connection_pool_kw["ca_certs"] == requests.utils.DEFAULT_CA_BUNDLE_PATH
