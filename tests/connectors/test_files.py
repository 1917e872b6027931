"""The files sink on a real file system: names from ids, atomic rename, replay overwrites."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from etlcore import BatchInfo, ConfigError, StreamingContext
from etlcore.connectors.files import FilesSink
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext


def build(path: Path, **config) -> FilesSink:
    sink = get_registry().get("sink", "files").build({"path": str(path), **config})
    sink.open(SinkContext("files", "job"))
    return sink


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_end_to_end_names_per_batch_and_partition(tmp_path):
    ctx = StreamingContext(1.0, clock="manual")
    ctx.source("generator", kind="sensors", rate=20, partitions=2, limit=15).sink(
        "files", path=str(tmp_path / "out"))
    ctx.run(until_idle=True)
    out = tmp_path / "out"
    assert tree(out) == [
        f"batch-{b:012d}/{name}" for b in (0, 1)
        for name in ("_SUCCESS", "part-00000.jsonl", "part-00001.jsonl")
    ]
    rows = [json.loads(line) for f in sorted(out.glob("batch-*/part-*")) for line in
            f.read_text().splitlines()]
    assert len(rows) == 30 and all("sensor_id" in r for r in rows)


def test_staged_files_appear_only_at_commit(tmp_path):
    sink = build(tmp_path)
    batch = BatchInfo(7, 7.0)
    sink.write(batch, 0, [{"a": 1}])
    final = tmp_path / "batch-000000000007" / "part-00000.jsonl"
    assert not final.exists()
    assert tree(tmp_path) == ["batch-000000000007/.part-00000.jsonl.tmp"]
    sink.commit(batch)
    assert tree(tmp_path) == ["batch-000000000007/_SUCCESS", "batch-000000000007/part-00000.jsonl"]
    assert final.read_text() == '{"a": 1}\n'


def test_a_replay_overwrites_the_same_names(tmp_path):
    records = [("k", 1), {"when": datetime.date(2024, 5, 1), "tags": {"x"}}]
    for replay in (False, True):
        sink = build(tmp_path)
        batch = BatchInfo(3, 3.0, replay=replay)
        sink.write(batch, 0, records)
        sink.write(batch, 1, [])  # an empty partition writes nothing
        sink.commit(batch)
        assert tree(tmp_path) == ["batch-000000000003/_SUCCESS",
                                  "batch-000000000003/part-00000.jsonl"]
    lines = (tmp_path / "batch-000000000003" / "part-00000.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [["k", 1], {"when": "2024-05-01",
                                                             "tags": "{'x'}"}]


def test_csv_and_text_formats(tmp_path):
    csv_sink = build(tmp_path / "csv", format="csv")
    batch = BatchInfo(0, 0.0)
    csv_sink.write(batch, 0, [{"a": 1, "b": "x,y"}, {"b": "z", "c": None}])
    csv_sink.write(batch, 1, [(("w", 1), 2), "solo"])
    csv_sink.commit(batch)
    folder = tmp_path / "csv" / "batch-000000000000"
    assert (folder / "part-00000.csv").read_text() == 'a,b,c\n1,"x,y",\n,z,\n'
    assert (folder / "part-00001.csv").read_text() == "w,1,2\nsolo\n"

    text_sink = build(tmp_path / "text", format="text")
    text_sink.write(batch, 0, ["line", ("k", 2)])
    text_sink.commit(batch)
    assert (tmp_path / "text" / "batch-000000000000" / "part-00000.txt").read_text() == (
        "line\n('k', 2)\n")


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "files").build({"path": "x", "format": "parquet"},
                                                  where="sink 'files'")
    assert err.value.key == "sink 'files'.format"
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "files").build({}, where="sink 'files'")
    assert err.value.key == "sink 'files'.path"
