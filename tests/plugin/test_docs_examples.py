"""docs/plugins.md: its complete source and sink pass the contract kit, as printed."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r"```python\n(# file: (\S+)\n.*?)```", re.S)


def extract(folder: Path) -> dict[str, Path]:
    """Every ``# file: NAME`` code block of the doc, written to ``folder``."""
    out = {}
    for code, name in BLOCK.findall(DOC.read_text()):
        (folder / name).write_text(code)
        out[name] = folder / name
    return out


def test_the_doc_has_a_source_a_sink_and_their_tests(tmp_path: Path) -> None:
    assert sorted(extract(tmp_path)) == ["jsonl_sink.py", "sqlite_table.py", "test_examples.py"]


def test_the_examples_pass_the_contract_kit(tmp_path: Path) -> None:
    extract(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "test_examples.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b1[0-9] passed", proc.stdout), proc.stdout


def test_the_examples_are_ruff_clean(tmp_path: Path) -> None:
    pytest.importorskip("ruff")
    extract(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "100",
         "--target-version", "py310", "--select", "E,F,W,I,B,UP,SIM", "."],
        cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Recorder:
    def __init__(self) -> None:
        self.names: list[tuple[str, str]] = []

    def source(self, name: str, *args: Any) -> None:
        self.names.append(("source", name))

    def sink(self, name: str, *args: Any) -> None:
        self.names.append(("sink", name))


def test_the_examples_register_their_names(tmp_path: Path) -> None:
    files = extract(tmp_path)
    register = Recorder()
    for name, hook in (("sqlite_table.py", "etlcore_register_sources"),
                       ("jsonl_sink.py", "etlcore_register_sinks")):
        spec = importlib.util.spec_from_file_location(f"docs_{name[:-3]}", files[name])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        try:
            spec.loader.exec_module(module)
            getattr(module, hook)(register)
        finally:
            del sys.modules[spec.name]
    assert register.names == [("source", "sqlite_table"), ("sink", "jsonl")]
