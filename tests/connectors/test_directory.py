"""The directory source over real files: discovery between batches, formats, replay."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from etlcore import ConfigError, StreamingContext
from etlcore.clock import ManualClock
from etlcore.connectors.directory import DirectoryReader, DirectorySource
from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import get_registry
from etlcore.source import DriverReader, SourceContext

from .protocol import PICKLERS, open_reader, read


def write(folder: Path, name: str, text: str, mtime: float | None = None) -> Path:
    """Write-then-rename, as producers should; ``mtime`` pins discovery order."""
    tmp = folder / f"_{name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    final = folder / name
    tmp.rename(final)
    return final


def build(folder: Path, state: Path | None = None, **config) -> DirectorySource:
    source = get_registry().get("source", "directory").build({"path": str(folder), **config})
    source.open(SourceContext("directory-1", ManualClock(), state))
    return source


def test_files_arriving_between_batches(tmp_path, sink_name):
    inbox = tmp_path / "in"
    inbox.mkdir()
    write(inbox, "a.txt", "a1\na2\n", mtime=1)
    arrivals = {
        0: lambda: write(inbox, "b.txt", "b1\n", mtime=2),
        1: lambda: (
            write(inbox, "c.txt", "c1\r\nc2", mtime=3),
            (inbox / ".hidden.txt").write_text("never\n"),
            (inbox / "_in_progress.txt").write_text("never\n"),
            (inbox / "subdir").mkdir(),
        ),
    }
    ctx = StreamingContext(1.0, clock="manual")
    lines = ctx.text_file_stream(str(inbox))
    lines.sink("memory", name=sink_name)
    lines.foreach_batch(lambda batch_id, _: arrivals.get(batch_id, lambda: None)())
    ctx.run(until_idle=True)
    assert list(MemorySink.batches(sink_name).values()) == [["a1", "a2"], ["b1"], ["c1", "c2"]]


def test_discovery_order_is_mtime_then_name_and_pattern_filters(tmp_path):
    write(tmp_path, "z.log", "z\n", mtime=100)
    write(tmp_path, "b.log", "b\n", mtime=200)
    write(tmp_path, "a.log", "a\n", mtime=200)
    write(tmp_path, "skip.txt", "no\n", mtime=50)
    source = build(tmp_path, pattern="*.log", max_files_per_batch=2)
    assert source.plan("0", 0, None) == 2
    assert read(source, "0", 0, 2) == ["z", "a"]
    assert source.plan("0", 2, 1) == 3  # max_records counts records, not files: ignored
    assert read(source, "0", 2, 3) == ["b"]
    assert not source.exhausted()


def test_json_lines_that_do_not_parse_are_dead_letters_of_the_source(tmp_path, sink_name):
    inbox = tmp_path / "in"
    inbox.mkdir()
    write(inbox, "events.json", '{"n": 1}\n{"n": 2,\n\n[3]\n{"n": 4}\n')
    ctx = StreamingContext(1.0, clock="manual")
    events = ctx.source("directory", path=str(inbox), format="json")
    events.map(lambda e: e["n"], on_error="dead_letter").sink("memory", name=sink_name)
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == [1, 4]
    assert [(d["record"], d["stage"]) for d in ctx.dead_letters] == [
        ('{"n": 2,', "directory-1"), ([3], "map-1")]
    parse_error = ctx.dead_letters[0]
    assert parse_error["reason"] == "invalid JSON: Input data was truncated"
    assert parse_error["origin"] == f"{inbox / 'events.json'} line 2 (byte 9, manifest entry 0)"


def test_csv_rows_become_dicts(tmp_path):
    write(tmp_path, "people.csv", 'name,city\nAda,London\n"Grace, RA",Arlington\n')
    source = build(tmp_path, format="csv")
    end = source.plan("0", 0, None)
    assert read(source, "0", 0, end) == [
        {"name": "Ada", "city": "London"}, {"name": "Grace, RA", "city": "Arlington"}
    ]


def test_replay_reads_the_same_files_after_a_restart(tmp_path):
    inbox, state = tmp_path / "in", tmp_path / "state"
    inbox.mkdir()
    state.mkdir()
    write(inbox, "1.txt", "one\n", mtime=10)
    write(inbox, "2.txt", "two\n", mtime=20)
    first = build(inbox, state)
    assert first.plan("0", 0, None) == 2
    before = read(first, "0", 0, 2)
    assert read(first, "0", 1, 2) == ["two"]

    os.utime(inbox / "1.txt", (30, 30))  # touched later: order must not change
    write(inbox, "0.txt", "zero\n", mtime=5)  # older than both, but discovered later
    again = build(inbox, state)  # a restart: the manifest comes from the state directory
    assert read(again, "0", 0, 2) == before == ["one", "two"]
    assert again.plan("0", 2, None) == 3
    assert read(again, "0", 2, 3) == ["zero"]


def test_a_checkpointed_job_resumes_with_new_files_only(tmp_path, sink_name):
    inbox = tmp_path / "in"
    inbox.mkdir()

    def job() -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="dir")
        ctx.text_file_stream(str(inbox)).sink("memory", name=sink_name)
        return ctx

    write(inbox, "a.txt", "a\n")
    job().run(until_idle=True)
    write(inbox, "b.txt", "b\n")
    job().run(until_idle=True)
    assert MemorySink.results(sink_name) == ["a", "b"]
    manifest = tmp_path / "ckpt" / "sources" / "directory-1" / "manifest.jsonl"
    assert len(manifest.read_text().splitlines()) == 2


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_range_beyond_the_manifest_is_an_error(tmp_path, checkpointed):
    source = build(tmp_path / "in", tmp_path / "state" if checkpointed else None)
    with pytest.raises(ValueError, match="beyond the manifest"):
        read(source, "0", 0, 1)


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_reader_crosses_processes_and_sees_later_manifest_entries(tmp_path, how,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    inbox, state = Path("in"), Path("state")  # relative to the driver's directory
    inbox.mkdir()
    write(inbox, "a.json", '{"n": 1}\n', mtime=1)
    write(inbox, "b.json", '{"n": 2}\n{"n": 3}\n', mtime=2)
    source = build(inbox, state, format="json")
    assert source.plan("0", 0, None) == 2
    original = open_reader(source)
    assert isinstance(original, DirectoryReader)
    shipped = open_reader(source, how=how)
    monkeypatch.chdir(tmp_path / "in")  # a worker runs elsewhere
    assert list(shipped.read("0", 0, 2)) == list(original.read("0", 0, 2)) == [
        {"n": 1}, {"n": 2}, {"n": 3}]
    monkeypatch.chdir(tmp_path)  # the driver again
    write(inbox, "c.json", '{"n": 4}\n', mtime=3)  # appended to the manifest after shipping
    assert source.plan("0", 2, None) == 3
    monkeypatch.chdir(tmp_path / "in")
    assert list(shipped.read("0", 1, 3)) == list(original.read("0", 1, 3)) == [
        {"n": 2}, {"n": 3}, {"n": 4}]


def test_without_a_checkpoint_the_driver_reads(tmp_path):
    write(tmp_path, "a.txt", "a\n")
    source = build(tmp_path)
    assert source.plan("0", 0, None) == 1
    reader = source.reader()
    assert isinstance(reader, DriverReader)
    assert list(reader.read("0", 0, 1)) == ["a"]
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(reader)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        get_registry().get("source", "directory").build(
            {"path": "x", "max_files_per_batch": 0}, where="source 'd'")
    assert err.value.key == "source 'd'.max_files_per_batch"
    with pytest.raises(ConfigError) as err:
        get_registry().get("source", "directory").build({"path": "x", "format": "xml"})
    assert err.value.key == "format"


def test_a_backlog_that_fills_the_batch_is_planned_without_listing_again(tmp_path):
    """Files listed beyond ``max_files_per_batch`` make the next batches without a listing
    (what a listing finds goes after them); a batch they do not fill lists, and files
    that arrived meanwhile come after the backlog, in discovery order."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    for k in range(5):
        write(inbox, f"{k}.txt", f"{k}\n", mtime=10 + k)
    source = build(inbox, tmp_path / "state", max_files_per_batch=2)
    listings = []
    listed = source.fs.list
    source.fs.list = lambda *a, **k: listings.append(1) or listed(*a, **k)
    assert source.plan("0", 0, None) == 2 and len(listings) == 1
    write(inbox, "9.txt", "9\n", mtime=5)  # older than the backlog, found later
    assert source.plan("0", 2, None) == 4 and len(listings) == 1  # 2.txt, 3.txt: listed
    assert source.plan("0", 4, None) == 6 and len(listings) == 2  # 4.txt alone: lists
    assert read(source, "0", 0, 6) == ["0", "1", "2", "3", "4", "9"]
    assert source.plan("0", 6, None) == 6 and len(listings) == 3  # nothing left: lists
