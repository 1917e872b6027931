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

from .protocol import PICKLERS, open_writer, write, write_and_commit


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
    messages = write(sink, batch, [[{"a": 1}]])
    final = tmp_path / "batch-000000000007" / "part-00000.jsonl"
    assert not final.exists()
    assert tree(tmp_path) == ["batch-000000000007/.part-00000.jsonl.tmp"]
    sink.commit(batch, messages)
    assert tree(tmp_path) == ["batch-000000000007/_SUCCESS", "batch-000000000007/part-00000.jsonl"]
    assert final.read_text() == '{"a": 1}\n'


def test_a_replay_overwrites_the_same_names(tmp_path):
    records = [("k", 1), {"when": datetime.date(2024, 5, 1), "tags": {"x"}}]
    for replay in (False, True):
        sink = build(tmp_path)
        batch = BatchInfo(3, 3.0, replay=replay)
        write_and_commit(sink, batch, [records, []])  # an empty partition writes nothing
        assert tree(tmp_path) == ["batch-000000000003/_SUCCESS",
                                  "batch-000000000003/part-00000.jsonl"]
    lines = (tmp_path / "batch-000000000003" / "part-00000.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [["k", 1], {"when": "2024-05-01",
                                                             "tags": "{'x'}"}]


def test_csv_and_text_formats(tmp_path):
    csv_sink = build(tmp_path / "csv", format="csv")
    batch = BatchInfo(0, 0.0)
    write_and_commit(csv_sink, batch, [[{"a": 1, "b": "x,y"}, {"b": "z", "c": None}],
                                       [(("w", 1), 2), "solo"]])
    folder = tmp_path / "csv" / "batch-000000000000"
    assert (folder / "part-00000.csv").read_text() == 'a,b,c\n1,"x,y",\n,z,\n'
    assert (folder / "part-00001.csv").read_text() == "w,1,2\nsolo\n"

    text_sink = build(tmp_path / "text", format="text")
    write_and_commit(text_sink, batch, [["line", ("k", 2)]])
    assert (tmp_path / "text" / "batch-000000000000" / "part-00000.txt").read_text() == (
        "line\n('k', 2)\n")


def test_a_replay_after_a_crash_between_rename_and_marker_publishes_again(tmp_path):
    sink = build(tmp_path)
    batch = BatchInfo(4, 4.0)
    write_and_commit(sink, batch, [[1], [2]])
    (tmp_path / "batch-000000000004" / "_SUCCESS").unlink()  # the crash: marker never written
    write_and_commit(build(tmp_path), BatchInfo(4, 4.0, replay=True), [[1], [2]])
    assert tree(tmp_path) == ["batch-000000000004/_SUCCESS", "batch-000000000004/part-00000.jsonl",
                              "batch-000000000004/part-00001.jsonl"]


def test_abort_drops_what_the_writers_staged(tmp_path):
    sink = build(tmp_path)
    batch = BatchInfo(5, 5.0)
    sink.abort(batch, write(sink, batch, [[1], [], [3]]))
    assert tree(tmp_path) == []


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_writer_crosses_processes(tmp_path, how, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sink = build(Path("."), format="csv")  # relative to the driver's directory
    batch = BatchInfo(2, 2.0)
    here, there = open_writer(sink), open_writer(sink, how=how)
    (tmp_path / "worker").mkdir()
    monkeypatch.chdir(tmp_path / "worker")  # a worker runs elsewhere
    shipped = there.write(batch, 1, [{"a": 1}, {"a": 2}])
    staged = tmp_path / "batch-000000000002" / ".part-00001.csv.tmp"
    content = staged.read_text()
    assert here.write(batch, 1, [{"a": 1}, {"a": 2}]) == shipped
    assert staged.read_text() == content == "a\n1\n2\n"
    sink.commit(batch, [None, shipped])
    assert tree(tmp_path) == ["batch-000000000002/_SUCCESS", "batch-000000000002/part-00001.csv"]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "files").build({"path": "x", "format": "xml"},
                                                  where="sink 'files'")
    assert err.value.key == "sink 'files'.format"
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "files").build({}, where="sink 'files'")
    assert err.value.key == "sink 'files'.path"
