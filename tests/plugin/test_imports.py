"""require_module(): the pip command for a missing client library, nothing else hidden."""

from __future__ import annotations

import sys

import pytest

from etlcore.errors import EtlcoreError
from etlcore.plugin.imports import MissingDependencyError, require_module


def test_an_installed_module_is_returned():
    assert require_module("json", feature="x").dumps(1) == "1"


def test_a_missing_module_says_what_to_install():
    with pytest.raises(MissingDependencyError) as err:
        require_module("nosuch_mongo_xyz.collection", "pymongo>=4", feature="the mongodb sink")
    assert str(err.value) == ("the mongodb sink needs the Python module "
                              "'nosuch_mongo_xyz.collection', which is not installed: "
                              "pip install 'pymongo>=4'")
    assert isinstance(err.value, EtlcoreError) and isinstance(err.value, ImportError)
    assert err.value.package == "pymongo>=4" and err.value.__cause__ is None


def test_the_package_defaults_to_the_top_level_module():
    with pytest.raises(MissingDependencyError, match="pip install 'nosuch_xyz'"):
        require_module("nosuch_xyz.sub", feature="f")


def test_a_broken_installed_module_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "brokenclient_xyz.py").write_text("import nosuch_inner_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="nosuch_inner_xyz") as err:
        require_module("brokenclient_xyz", feature="f")
    assert not isinstance(err.value, MissingDependencyError)
    sys.modules.pop("brokenclient_xyz", None)
