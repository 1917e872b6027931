"""The contract kit is a pytest plugin (entry point pytest11): markers and fixtures."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

REINSTALL = "the pytest11 entry point is missing: reinstall etlcore (pip install -e .)"

MODULE = '''
from etlcore.contract import SinkContract


class TestMemory(SinkContract):
    plugin_name = "memory"

    def config(self, path):
        return {"name": f"plugin-{path.name}"}

    def sample_records(self):
        return [1, 2, 3]

    def stored(self, sink, target):
        from etlcore.connectors.queue import MemorySink
        return MemorySink.results(target.config["name"])


def test_plain(etlcore_registry):
    assert "memory" in etlcore_registry.names("sink")
'''


def test_the_entry_point_is_installed(request: pytest.FixtureRequest) -> None:
    points = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert points.get("etlcore.contract.plugin") == "etlcore.contract.plugin", REINSTALL
    assert request.config.pluginmanager.has_plugin("etlcore.contract.plugin"), REINSTALL


@pytest.mark.parametrize("listed", [False, True], ids=["entry-point", "also-in-conftest"])
def test_contract_tests_are_marked_and_selectable(tmp_path: Path, listed: bool) -> None:
    (tmp_path / "test_mod.py").write_text(textwrap.dedent(MODULE))
    if listed:  # naming the plugin again in pytest_plugins is harmless
        (tmp_path / "conftest.py").write_text('pytest_plugins = ["etlcore.contract.plugin"]\n')
    run = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
           "-q"]
    selected = subprocess.run([*run, "-m", "contract", "--collect-only"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert selected.returncode == 0, selected.stdout + selected.stderr
    ids = [line for line in selected.stdout.splitlines() if "::" in line]
    assert ids and all("TestMemory::" in i for i in ids)
    assert any("test_replayed_batch_converges" in i for i in ids)
    everything = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert everything.returncode == 0, everything.stdout + everything.stderr
