"""``etlcore new-plugin``: the package it writes installs and passes its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etlcore.cli.main import main
from etlcore.cli.newplugin import Names, default_kind, files

ROOT = Path(__file__).resolve().parents[2]


def etlcore(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etlcore.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_names_and_kinds():
    assert Names.of("demo-sink") == Names("etlcore-demo-sink", "etlcore_demo_sink", "demo", "Demo")
    assert Names.of("etlcore-mongo-db") == Names("etlcore-mongo-db", "etlcore_mongo_db",
                                                 "mongo_db", "MongoDb")
    assert Names.of("kafka_source").name == "kafka"
    assert Names.of("sink").name == "sink"
    assert [default_kind(n) for n in ("demo-sink", "s3-source", "acme", "sink")] == [
        "sink", "source", "both", "both"]
    assert sorted(files(Names.of("x"), "source")) == [
        "README.md", "etlcore_x/__init__.py", "etlcore_x/config.py", "etlcore_x/source.py",
        "pyproject.toml", "tests/test_x_source.py"]


def test_bad_names_and_taken_directories_are_one_line_errors(tmp_path, capsys):
    assert main(["new-plugin", "Bad Name", "--dir", str(tmp_path)]) == 2
    assert "config key 'NAME'" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    assert main(["new-plugin", "taken", "--dir", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["source", "sink", "both"])
def test_the_generated_code_is_ruff_clean(tmp_path, kind):
    ruff = pytest.importorskip("ruff")
    assert ruff
    assert main(["new-plugin", "acme", "--kind", kind, "--dir", str(tmp_path)]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "100",
         "--target-version", "py310", "--select", "E,F,W,I,B,UP,SIM", "."],
        cwd=tmp_path / "acme", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_demo_sink_installs_and_passes_its_own_tests(tmp_path):
    """As a plugin author would: generate, pip install, pytest (in subprocesses)."""
    made = etlcore("new-plugin", "demo-sink", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    plugin = tmp_path / "demo-sink"
    assert (plugin / "tests" / "test_demo_sink.py").exists()
    pip = [sys.executable, "-m", "pip"]
    install = subprocess.run([*pip, "install", "--no-build-isolation", "--no-deps", "-q",
                              str(plugin)], capture_output=True, text=True, timeout=300)
    try:
        assert install.returncode == 0, install.stdout + install.stderr
        listed = etlcore("plugins", "--json", cwd=tmp_path)
        assert '"name": "demo"' in listed.stdout, listed.stdout + listed.stderr
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=plugin, capture_output=True, text=True, timeout=600)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert " passed" in tests.stdout and "failed" not in tests.stdout
    finally:
        subprocess.run([*pip, "uninstall", "-y", "-q", "etlcore-demo-sink"],
                       capture_output=True, timeout=300)
