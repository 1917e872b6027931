"""A broken plugin package breaks only the jobs that use it, and says why.

Each test installs real tiny packages (see ``plugin_packages``) next to the
installed ones, then checks that a job using only built-ins still runs and
that asking for the broken plugin's name gives a one-line error naming the
plugin, its package and the reason.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import (
    MissingDependencyError,
    PluginBlockedError,
    PluginBrokenError,
    PluginConflictError,
    PluginNotFoundError,
)
from etlcore.plugin import require
from etlcore.plugin.registry import get_registry, reset_registry
from tests.core import plugin_packages as pkgs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site dir on ``sys.path`` for ``pkgs.install``; removed, with its modules, after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    reset_registry()
    yield folder
    sys.path.remove(str(folder))
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]
    importlib.invalidate_caches()
    reset_registry()


def run_builtin_job(name: str) -> list:
    """A job that uses only built-in connectors."""
    MemorySink.clear(name)
    ctx = StreamingContext(1.0, clock="manual")
    ctx.queue_stream([["a", "b"], ["c"]]).sink("memory", name=name)
    ctx.run(until_idle=True)
    return MemorySink.results(name)


def error_for(kind: str, name: str, cls: type = PluginNotFoundError) -> str:
    with pytest.raises(cls) as err:
        get_registry().get(kind, name)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_package_that_fails_to_import_breaks_only_its_names(site):
    pkgs.install(site, "etlcore-jsonl", pkgs.IMPORT_FAILS)
    assert run_builtin_job("imp") == ["a", "b", "c"]
    message = error_for("sink", "jsonl", PluginBrokenError)
    assert message == (
        "sink 'jsonl' is provided by plugin 'jsonl' (package etlcore-jsonl 1.0), which is "
        "broken: importing etlcore_jsonl failed: ModuleNotFoundError: No module named "
        "'nosuch_orjson_xyz'; fix, reinstall or uninstall etlcore-jsonl")
    info = next(i for i in get_registry().plugins() if i.name == "jsonl")
    assert (info.state, info.package) == ("broken", "etlcore-jsonl")


def test_a_register_hook_importing_a_missing_library(site):
    pkgs.install(site, "etlcore-jsonl", pkgs.HOOK_IMPORTS_MISSING)
    assert run_builtin_job("hook") == ["a", "b", "c"]
    message = error_for("sink", "jsonl", PluginBrokenError)
    assert message.startswith(
        "sink 'jsonl' is provided by plugin 'jsonl' (package etlcore-jsonl 1.0), which is "
        "broken: etlcore_register_sinks raised ModuleNotFoundError: No module named "
        "'nosuch_orjson_xyz' (at etlcore_jsonl/__init__.py:")
    # what it registered before failing is not half-used: it belongs to the broken plugin
    assert "etlcore_register_sinks raised" in error_for("source", "jsonl-in", PluginBrokenError)


def test_two_packages_registering_one_name(site):
    pkgs.install(site, "etlcore-jsonl-a", pkgs.WORKING, ep="jsonl-a")
    pkgs.install(site, "etlcore-jsonl-b", pkgs.WORKING, ep="jsonl-b", version="2.0")
    assert run_builtin_job("dup") == ["a", "b", "c"]
    message = error_for("sink", "jsonl", PluginConflictError)
    assert message == (
        "sink 'jsonl' is registered by 2 plugins: plugin 'jsonl-a' (package etlcore-jsonl-a "
        "1.0) and plugin 'jsonl-b' (package etlcore-jsonl-b 2.0); uninstall one, or block one "
        "with ETLCORE_BLOCK_PLUGINS=jsonl-b")
    rows = [r for r in get_registry().describe() if r["name"] == "jsonl"]
    assert [(r["package"], r["status"]) for r in rows] == [
        ("etlcore-jsonl-a", "conflict"), ("etlcore-jsonl-b", "conflict")]


def test_a_misspelled_hook(site):
    pkgs.install(site, "etlcore-jsonl", pkgs.MISSPELLED)
    assert run_builtin_job("typo") == ["a", "b", "c"]
    assert error_for("sink", "jsonl", PluginBrokenError) == (
        "sink 'jsonl' is provided by plugin 'jsonl' (package etlcore-jsonl 1.0), which is "
        "broken: etlcore_register_sink is not an etlcore hook (did you mean "
        "etlcore_register_sinks?); fix the hooks of etlcore-jsonl")


def test_a_hook_without_hookimpl(site):
    pkgs.install(site, "etlcore-jsonl", pkgs.NO_HOOKIMPL)
    assert run_builtin_job("unmarked") == ["a", "b", "c"]
    assert error_for("sink", "jsonl", PluginBrokenError) == (
        "sink 'jsonl' is provided by plugin 'jsonl' (package etlcore-jsonl 1.0), which is "
        "broken: etlcore_register_sinks is not marked @hookimpl, so etlcore would never call "
        "it (decorate it with etlcore.plugin.hookimpl); fix the hooks of etlcore-jsonl")


def test_a_blocked_plugin_says_which_variable(site, monkeypatch):
    module = pkgs.install(site, "etlcore-jsonl", pkgs.WORKING)
    monkeypatch.setenv("ETLCORE_BLOCK_PLUGINS", "other,jsonl")
    reset_registry()
    message = error_for("sink", "jsonl", PluginBlockedError)
    assert message == (
        "sink 'jsonl' is provided by plugin 'jsonl' (package etlcore-jsonl 1.0), which is "
        "blocked by ETLCORE_BLOCK_PLUGINS=other,jsonl; remove 'jsonl' from "
        "ETLCORE_BLOCK_PLUGINS to use it")
    assert "install" not in message
    assert module not in sys.modules  # blocked: never imported

    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS")
    monkeypatch.setenv("ETLCORE_PLUGINS", "log")
    reset_registry()
    assert error_for("sink", "jsonl", PluginBlockedError) == (
        "sink 'jsonl' is provided by plugin 'jsonl' (package etlcore-jsonl 1.0), which is "
        "blocked: ETLCORE_PLUGINS=log does not list it; add 'jsonl' to ETLCORE_PLUGINS to "
        "use it")
    assert run_builtin_job("blocked") == ["a", "b", "c"]


def test_declared_names_find_the_plugin_whatever_its_entry_point(site):
    """``etlcore.provides`` metadata is read without importing the package."""
    pkgs.install(site, "etlcore-formats", pkgs.IMPORT_FAILS, ep="formats",
                 provides={"sink.jsonl": "etlcore_formats.sink:JsonlSink"})
    assert "plugin 'formats' (package etlcore-formats 1.0), which is broken" in error_for(
        "sink", "jsonl", PluginBrokenError)
    info = next(i for i in get_registry().plugins() if i.name == "formats")
    assert info.describe()["provides"] == ["sink jsonl"]


def test_a_declared_name_the_hooks_forgot(site):
    pkgs.install(site, "etlcore-jsonl", pkgs.WORKING,
                 provides={"sink.jsonl": "etlcore_jsonl.sink:JsonlSink",
                           "sink.jsonl2": "etlcore_jsonl.sink:JsonlSink"})
    assert get_registry().get("sink", "jsonl").package == "etlcore-jsonl"
    assert error_for("sink", "jsonl2", PluginBrokenError) == (
        "sink 'jsonl2' is declared by plugin 'jsonl' (package etlcore-jsonl 1.0) (entry point "
        "group etlcore.provides) but its hooks did not register it; fix etlcore-jsonl")


def test_not_installed_gives_no_made_up_package(site):
    pkgs.install(site, "etlcore-jsonl", pkgs.MISSPELLED, ep="jsonl-typo")
    message = error_for("sink", "nosuchstore")
    assert "pip install" not in message
    assert message.startswith("no sink plugin named 'nosuchstore'. Installed sinks: ")
    assert "memory" in message
    assert message.endswith("Plugins not loaded: 'jsonl-typo' (broken). "
                            "`etlcore plugins` lists what is installed.")
    assert "Did you mean 'console'?" in error_for("sink", "consol")


def test_connectors_are_imported_on_first_use(site):
    module = pkgs.install(site, "etlcore-lazy", pkgs.LAZY_MISSING_LIB, ep="lazy", heavy=True)
    rows = {r["name"]: r for r in get_registry().describe() if r.get("plugin") == "lazy"}
    assert rows["jsonl"]["status"] == "ok"
    assert [c["name"] for c in rows["jsonl"]["config"]] == ["path"]
    assert f"{module}.heavy" not in sys.modules  # listing imported the config class only
    assert run_builtin_job("lazy") == ["a", "b", "c"]
    assert error_for("sink", "jsonl", PluginBrokenError) == (
        "sink 'jsonl' from plugin 'lazy' (package etlcore-lazy 1.0) cannot be used: "
        "etlcore-lazy needs the Python module 'nosuch_orjson_xyz', which cannot be imported "
        "(ModuleNotFoundError: No module named 'nosuch_orjson_xyz'): run pip install orjson-xyz")
    entry = get_registry().get("sink", "jsonl-auto")  # config class from the annotation
    assert entry.config_schema.__name__ == "JsonlConfig"
    assert type(entry.build({"path": "x"})).__name__ == "JsonlSink"


def test_require_says_what_to_install():
    assert require("json").dumps([]) == "[]"
    with pytest.raises(MissingDependencyError) as err:
        require("cassandra_xyz.cluster", package="cassandra-driver", plugin="etlcore-cassandra")
    assert str(err.value) == (
        "etlcore-cassandra needs the Python module 'cassandra_xyz.cluster', which cannot be "
        "imported (ModuleNotFoundError: No module named 'cassandra_xyz'): run pip install "
        "cassandra-driver")


# -- the etlcore command, with a broken package on the path --------------------------------

GENERATOR_JOB = """
name: gen
batch_interval: 50ms
source:
  type: generator
  config: {kind: clicks, rate: 1000, limit: 40}
store:
  - sink: %s
"""


def etlcore(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ETLCORE_PLUGINS", "ETLCORE_BLOCK_PLUGINS", "COLUMNS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT),
                                                      env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "etlcore.cli.main", *args], cwd=cwd, env=env,
                          text=True, capture_output=True, timeout=120)


def test_the_cli_with_a_broken_package_installed(site, tmp_path):
    pkgs.install(site, "etlcore-jsonl", pkgs.HOOK_IMPORTS_MISSING)
    (tmp_path / "gen.yaml").write_text(GENERATOR_JOB % "console")
    result = etlcore(site, tmp_path, "run", "gen.yaml", "--until-idle")
    assert result.returncode == 0, result.stderr
    assert "done:" in result.stdout and "40 records in" in result.stdout

    (tmp_path / "uses.yaml").write_text(GENERATOR_JOB % "jsonl")
    result = etlcore(site, tmp_path, "run", "uses.yaml", "--until-idle")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: uses.yaml: config key 'store[0].sink': sink 'jsonl' is provided by plugin "
        "'jsonl' (package etlcore-jsonl 1.0), which is broken: etlcore_register_sinks raised "
        "ModuleNotFoundError: No module named 'nosuch_orjson_xyz'")
    assert len(result.stderr.strip().splitlines()) == 1

    result = etlcore(site, tmp_path, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = [r for r in json.loads(result.stdout) if r["kind"] == "plugin"]
    assert [(r["name"], r["package"], r["status"]) for r in rows] == [
        ("jsonl", "etlcore-jsonl", "broken")]
    assert "No module named 'nosuch_orjson_xyz'" in rows[0]["reason"]

    result = etlcore(site, tmp_path, "plugins")
    assert result.returncode == 0, result.stderr
    assert "generator" in result.stdout and "not usable" in result.stdout
    assert "etlcore_register_sinks raised" in " ".join(result.stdout.split())


def test_a_builtin_job_imports_no_plugin_client_library(tmp_path):
    """Registrations are strings: a generator job never imports kafka's connector modules."""
    script = textwrap.dedent("""
        import sys
        from etlcore import StreamingContext
        ctx = StreamingContext(1.0, clock="manual")
        ctx.source("generator", kind="clicks", limit=5).pprint()
        ctx.run(until_idle=True)
        print(sorted(m for m in sys.modules if m.startswith(("confluent_kafka", "etlcore_kafka."))))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETLCORE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", script], env=env, text=True,
                            capture_output=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
