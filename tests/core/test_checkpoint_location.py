"""``checkpoint=``: a local path, ``file://``, or a file-system plugin's URL, checked first."""

from __future__ import annotations

from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.ckptstore import LocalStore, check_location, is_remote, normalize, open_store
from etlcore.errors import ConfigError
from etlcore.plugin import fs as fsmod
from etlcore.plugin.registry import reset_registry


def test_local_paths_keep_the_local_store(tmp_path: Path) -> None:
    for given in (tmp_path / "a", str(tmp_path / "a"), f"file://{tmp_path}/a"):
        assert normalize(given) == tmp_path / "a" and not is_remote(given)
        assert isinstance(open_store(given), LocalStore)
    ctx = StreamingContext(1.0, f"file://{tmp_path}/ck")
    assert ctx.checkpoint_dir == tmp_path / "ck"


def test_a_url_stays_a_url_not_a_collapsed_path() -> None:
    assert normalize("s3://bucket/jobs/wc/") == "s3://bucket/jobs/wc"
    assert is_remote("hdfs://nn:9870/x") and not is_remote("file:///x")


@pytest.mark.parametrize("bad", ["", 42])
def test_not_a_location(bad: object) -> None:
    with pytest.raises(ConfigError, match="config key 'checkpoint'"):
        StreamingContext(1.0, bad)  # type: ignore[arg-type]


def test_unknown_scheme_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        StreamingContext(1.0, "gopher://host/ckpt")
    assert err.value.key == "checkpoint"
    assert "no file system for 'gopher://'" in str(err.value)


def test_scheme_without_its_plugin_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETLCORE_BLOCK_PLUGINS", "hdfs")
    for scheme in ("hdfs", "webhdfs"):
        monkeypatch.delitem(fsmod._factories, scheme, raising=False)
    reset_registry()
    try:
        with pytest.raises(ConfigError) as err:
            check_location("hdfs://namenode:9870/jobs/wc")
    finally:
        reset_registry()
    assert err.value.key == "checkpoint"
    assert "pip install etlcore-hdfs" in str(err.value)


def test_a_file_system_without_exclusive_create_cannot_hold_a_checkpoint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class NoLease(fsmod.LocalFileSystem):
        create_exclusive = fsmod.FileSystem.create_exclusive  # type: ignore[assignment]

    monkeypatch.setitem(fsmod._factories, "nolease", NoLease)
    with pytest.raises(ConfigError, match="exclusive creates"):
        check_location("nolease://x/ckpt")
