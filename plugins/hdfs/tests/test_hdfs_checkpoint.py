"""A job's checkpoint on HDFS: the store and the lease under the contract kit."""

from __future__ import annotations

import pytest

from etlcore.contract.checkpoint import CheckpointStoreContract

pytestmark = pytest.mark.services


class TestHdfsCheckpoint(CheckpointStoreContract):
    @pytest.fixture(autouse=True)
    def _user(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HADOOP_USER_NAME", self.request.getfixturevalue("hdfs_server").user)

    def location(self) -> str:
        server = self.request.getfixturevalue("hdfs_server")
        return f"{server.url}{self.request.getfixturevalue('hdfs_dir_factory')()}/ckpt"

    def subprocess_env(self) -> dict[str, str]:
        user = self.request.getfixturevalue("hdfs_server").user
        return {**self.request.getfixturevalue("subprocess_env"), "HADOOP_USER_NAME": user}
