"""Smoke tests: the harness's HDFS answers WebHDFS (through HdfsCLI) and keeps its data
across a restart, which the outage tests rely on."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.services


def test_write_list_read_rename_and_delete(hdfs_client: Any, hdfs_dir_factory: Any) -> None:
    root = hdfs_dir_factory()
    data = bytes(range(256)) * 4096  # 1 MiB through the DataNode's redirect
    hdfs_client.write(f"{root}/.big.tmp", data)
    hdfs_client.rename(f"{root}/.big.tmp", f"{root}/big")
    for i in range(3):
        hdfs_client.write(f"{root}/{i}.txt", f"v{i}".encode())
    names = {name: st["length"] for name, st in hdfs_client.list(root, status=True)}
    assert names == {"big": len(data), "0.txt": 2, "1.txt": 2, "2.txt": 2}
    with hdfs_client.read(f"{root}/big") as reader:
        assert reader.read() == data
    with hdfs_client.read(f"{root}/big", offset=1000, length=10) as reader:
        assert reader.read() == data[1000:1010]
    hdfs_client.delete(f"{root}/1.txt")
    assert sorted(hdfs_client.list(root)) == ["0.txt", "2.txt", "big"]


def test_data_survives_a_restart(hdfs_client: Any, hdfs_dir_factory: Any,
                                 hdfs_service: Any, hdfs_server: Any) -> None:
    from tests.services.fixtures import hdfs_connect

    root = hdfs_dir_factory()
    hdfs_client.write(f"{root}/keep.txt", b"still here")
    took = hdfs_service.restart()
    assert took > 0
    client = hdfs_connect(hdfs_server)
    with client.read(f"{root}/keep.txt") as reader:
        assert reader.read() == b"still here"
    client.write(f"{root}/after.txt", b"writable")  # out of safe mode, a DataNode is live
    assert sorted(client.list(root)) == ["after.txt", "keep.txt"]
