"""The built-in sinks under the contract kit (etlcore.contract): memory, console, files, sqlite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.contract import REMOVE, SinkContract, Target, unique_name
from etlcore.sink import Sink


class TestMemorySink(SinkContract):
    plugin_name = "memory"

    def config(self, path: Path) -> dict[str, Any]:
        name = unique_name("memory")
        self.request.addfinalizer(lambda: MemorySink.clear(name))
        return {"name": name}

    def sample_records(self) -> list[Any]:
        return [{"id": i, "tags": ["a", str(i)]} for i in range(5)] + [("tuple", 1), None]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        batches = MemorySink.batches(target.config["name"])
        return [(b, r) for b, records in batches.items() for r in records]


class TestConsoleSink(SinkContract):
    """Printing cannot be taken back: a replayed batch prints again (at-least-once)."""

    plugin_name = "console"
    delivery = "at-least-once"

    @pytest.fixture(autouse=True)
    def _capture(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys  # from the start: stored() reads what each run printed
        self.printed: dict[Path, list[str]] = {}

    def config(self, path: Path) -> dict[str, Any]:
        return {"limit": 100}

    def sample_records(self) -> list[Any]:
        return [f"line {i}" for i in range(6)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Everything printed for ``target``: the kit reads a target before using another."""
        lines = self.printed.setdefault(target.path, [])
        lines += self.capsys.readouterr().out.splitlines()
        return list(lines)

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"limit": "ten"}, "limit"), ({"header": 1}, "header")]


class TestFilesSink(SinkContract):
    plugin_name = "files"

    def config(self, path: Path) -> dict[str, Any]:
        return {"path": str(path / "out"), "format": "jsonl"}

    def sample_records(self) -> list[Any]:
        return [{"id": i, "v": i * 1.5} for i in range(7)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Committed files and their lines; a temp file left over counts as output too."""
        out = Path(target.config["path"])
        return [(str(f.relative_to(out)), f.read_text().splitlines())
                for f in sorted(out.rglob("*")) if f.is_file()]

    bad_records_policy = "reject"

    def bad_records(self) -> list[Any]:
        """What jsonl cannot hold: NaN, a lone surrogate (no UTF-8 form)."""
        return [{"id": "nan", "v": float("nan")}, {"id": "\ud800", "v": 0}]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": ""}, "path"), ({"format": "xml"}, "format"),
                ({"non_finite": "zero"}, "non_finite")]


class TestSqliteSink(SinkContract):
    """Append mode, so only the stored batch id keeps a replay from adding rows."""

    plugin_name = "sqlite"
    bad_records_policy = "reject"  # encoded on the worker; what SQLite cannot store is a dead letter

    def config(self, path: Path) -> dict[str, Any]:
        return {"path": str(path / "out.db"), "table": "t", "mode": "append",
                "columns": ["k", "v"]}

    def sample_records(self) -> list[Any]:
        return [(f"k{i}", i) for i in range(6)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        db = target.config["path"]
        if not Path(db).exists():
            return []
        with sqlite3.connect(db) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchall():
                return []
            return conn.execute("SELECT k, v FROM t").fetchall()

    def bad_records(self) -> list[Any]:
        """Tuples that do not fit the columns, and values SQLite cannot hold."""
        return [("bad", 1, 2), ("wide", 2**64), ("nan", float("inf")), ("\ud800", 1)]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"mode": "upsert"}, "key"), ({"table": REMOVE}, "table"),
                ({"mode": "merge"}, "mode"), ({"columns": ["k", "k"]}, "columns")]


@pytest.mark.parametrize("checkpointed", [False, True])
def test_contract_sinks_read_back_json(tmp_path: Path, checkpointed: bool) -> None:
    """The files sink's stored() reads what a job wrote (a check of the test itself)."""
    from etlcore import StreamingContext

    out = tmp_path / "out"
    ctx = StreamingContext(1.0, tmp_path / "ckpt" if checkpointed else None, clock="manual")
    ctx.queue_stream([[{"a": 1}]]).sink("files", path=str(out))
    ctx.run(until_idle=True)
    assert [json.loads(line) for f in out.rglob("part-*") for line in f.read_text().splitlines()
            ] == [{"a": 1}]
