"""Smoke test: the harness's HDFS answers WebHDFS (through HdfsCLI): writes through the
DataNode redirect, renames, listings with sizes, ranged reads, deletes.

That data survives a restart is checked where it matters, by the plugin's outage test
(plugins/hdfs/tests/test_hdfs_outage.py reads files written before the server stopped).
"""

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
