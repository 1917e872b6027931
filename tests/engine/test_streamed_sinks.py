"""A source stage that maps record by record into sinks flows through in chunks.

The sink's part writer gets the partition chunk by chunk (so a file upload runs beside
the parsing of the rest) and stores what a whole-partition ``write`` would have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.engine import task as task_module
from etlcore.sink import PartWriter, Sink, SinkWriter

CHUNK = 10


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "STREAM_CHUNK", CHUNK)


class Recorder(Sink, SinkWriter):
    """Stores each partition; ``calls`` says how each with records came: ("write", n) or
    ("part", chunk sizes)."""

    def __init__(self, streams: bool = True, fail_at: int | None = None):
        self.streams = streams
        self.fail_at = fail_at
        self.calls: list[tuple[str, Any]] = []
        self.stored: list[Any] = []
        self.aborted = 0
        self.opened = 0  # part writers asked for

    def writer(self) -> SinkWriter:
        return self

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        if records:  # partitions without records (the empty batch that ends a run) aside
            self.calls.append(("write", len(records)))
        return list(records)

    def open_part(self, batch: BatchInfo, partition: int) -> PartWriter | None:
        self.opened += 1
        return _Part(self) if self.streams else None

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        for m in messages:
            self.stored.extend(m)


class _Part(PartWriter):
    def __init__(self, sink: Recorder):
        self.sink, self.sizes, self.records = sink, [], []  # type: ignore[var-annotated]

    def write(self, records: list[Any]) -> None:
        self.sizes.append(len(records))
        self.records.extend(records)

    def close(self) -> Any:
        if self.sizes:
            self.sink.calls.append(("part", self.sizes))
        return self.records

    def abort(self) -> None:
        self.sink.aborted += 1


def run(tmp_path: Path, sink: Recorder, build: Any, batches: list[list[Any]]) -> None:
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="streamed",
                           parallelism=1)
    build(ctx.queue_stream(batches)).to(sink, "recorder")
    try:
        ctx.run(until_idle=True)
    finally:
        ctx.stop()


def test_a_mapped_partition_reaches_the_sink_in_chunks(tmp_path: Path) -> None:
    sink = Recorder()
    run(tmp_path, sink, lambda s: s.map(lambda n: n * 2).filter(lambda n: n % 3), [list(range(35))])
    assert sink.stored == [n * 2 for n in range(35) if n * 2 % 3]
    # 35 records read 10 at a time, each chunk mapped and filtered on its way
    kept = [sum(1 for n in range(i, min(i + CHUNK, 35)) if n * 2 % 3) for i in range(0, 35, 10)]
    assert sink.calls == [("part", kept)] and len(kept) == 4


def test_the_same_records_as_a_whole_partition_write(tmp_path: Path) -> None:
    def build(s: Any) -> Any:
        return s.flat_map(lambda n: [n] * (n % 3)).map(str)

    streamed, whole = Recorder(), Recorder(streams=False)
    run(tmp_path / "a", streamed, build, [list(range(23)), [], list(range(7))])
    run(tmp_path / "b", whole, build, [list(range(23)), [], list(range(7))])
    assert streamed.stored == whole.stored
    assert [c[0] for c in whole.calls] == ["write"] * len(whole.calls)
    assert {c[0] for c in streamed.calls} == {"part"}


def test_map_partitions_sees_its_whole_partition(tmp_path: Path) -> None:
    sink = Recorder()
    run(tmp_path, sink, lambda s: s.map_partitions(lambda rs: [len(rs)]), [list(range(35))])
    assert sink.stored[0] == 35  # (then 0, for the empty batch that ends the run)
    assert sink.calls and set(sink.calls) == {("write", 1)}


def test_a_failing_map_aborts_the_part_and_names_the_operator(tmp_path: Path) -> None:
    sink = Recorder()

    def boom(n: int) -> int:
        if n == 25:
            raise ValueError("no 25")
        return n

    with pytest.raises(ValueError, match="no 25") as failed:
        run(tmp_path, sink, lambda s: s.map(boom), [list(range(35))])
    assert sink.aborted == 1 and sink.stored == []
    assert "map" in "\n".join(failed.value.__notes__)


def test_the_files_sink_streams_lines_and_dead_letters_what_it_cannot_store(
        tmp_path: Path) -> None:
    lines = [f"line {i}" for i in range(33)]
    lines[12] = "bad \ud800"  # a lone surrogate has no UTF-8 form
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="files-streamed",
                           parallelism=1)
    ctx.queue_stream([lines]).map(str.upper).sink("files", path=str(tmp_path / "out"),
                                                   format="text")
    ctx.run(until_idle=True)
    ctx.stop()
    written = sorted((tmp_path / "out").glob("batch-*/part-*.txt"))
    got = "".join(p.read_text() for p in written).splitlines()
    assert got == [x.upper() for i, x in enumerate(lines) if i != 12]
    assert [(d["record"], d["stage"]) for d in ctx.dead_letters] == [
        ("BAD \ud800", "sink 'files'")]
    assert "UTF-8" in ctx.dead_letters[0]["reason"]


def test_a_partition_without_input_opens_no_part_writer(tmp_path: Path) -> None:
    """Nothing to stream: the sink gets its empty write, and no part writer (the files
    sink's on S3 would start an upload on the last file's size, then abort it)."""
    sink = Recorder()
    run(tmp_path, sink, lambda s: s.map(str), [list(range(5)), [], list(range(3))])
    assert sink.opened == 2  # the two batches with records; not the empty one, nor the last
    assert sink.stored == [str(n) for n in range(5)] + [str(n) for n in range(3)]
