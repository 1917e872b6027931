"""The directory source's lines kept in the buffer they were read into (``read_blocks``,
:mod:`etlcore.lineblock`): its blocks and lists are exactly the records of ``read``, dead
letters included; ``parse_json`` after it decodes the lines where they lie and gives the
records and letters of the line-by-line path; ``format: json`` with ``json_schema``
decodes in place with the origins of the line-by-line decode."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etlcore import StreamingContext
from etlcore.connectors import directory as directory_module
from etlcore.connectors import textfiles
from etlcore.connectors.directory import DirectorySourceConfig
from etlcore.connectors.textfiles import read_files
from etlcore.errors import ConfigError
from etlcore.lineblock import LineBlock
from etlcore.source import Rejected

# lines of JSON that fits, misfits and breaks the schema, blanks, non-UTF-8 bytes, text
_LINE = st.one_of(
    st.builds(lambda i, u: f'{{"id": {i}, "user": "{u}", "x": [1]}}'.encode(),
              st.integers(-5, 10**20), st.sampled_from(["ann", "caf\u00e9", "\u65e5", ""])),
    st.sampled_from([b"", b"  ", b"\t", b'{"id": "7", "user": "b"}', b'{"id": 1}', b"[1]",
                     b'{"id": 2, "user": "c"', b"null", b"NaN", b'{"id": 3, "user": "\xff"}',
                     b"\xc3", "\u00a0".encode(), b'{"id": 4, "user": "\\ud800"}']),
    st.binary(max_size=12),
)
SCHEMA = {"id": "int", "user": "str"}


def _file(lines: list[bytes], eol: bytes, last: bool) -> bytes:
    return eol.join(lines) + (eol if last and lines else b"")


def _flatten(pieces: Any) -> list[Any]:
    """The records a reader's blocks and lists stand for, in order."""
    out: list[Any] = []
    for piece in pieces:
        if isinstance(piece, LineBlock):
            lines = piece.lines()
            assert piece.text and len(lines) == piece.count > 0
            out.extend(lines)
        else:
            assert type(piece) is list
            out.extend(piece)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.tuples(st.lists(_LINE, max_size=12), st.sampled_from([b"\n", b"\r\n"]),
                                st.booleans(), st.sampled_from(["", ".gz", ".zst"])),
                      min_size=1, max_size=4),
       cuts=st.lists(st.integers(1, 60), max_size=3), encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_blocks_are_the_records_of_read(files, cuts, encoding):
    """Every file (plain, gzip, zstd) and byte range cut mid-line, read as blocks and lists,
    gives the records ``read`` gives: the same lines, the same dead letters (record, reason,
    origin) in the same places."""
    with tempfile.TemporaryDirectory() as tmp:
        names, spans = [], []
        for k, (lines, eol, last, ext) in enumerate(files):
            data = _file(lines, eol, last)
            name = f"f{k}.txt{ext}"
            packed = (gzip.compress(data) if ext == ".gz" else
                      zstandard.ZstdCompressor().compress(data) if ext == ".zst" else data)
            Path(tmp, name).write_bytes(packed)
            if ext or not cuts:
                names.append(name)
                spans.append(None)
                continue
            points = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
            for a, b in zip(points, points[1:], strict=False):  # ranges cut anywhere
                names.append(name)
                spans.append((a, b, len(data)))
        want = list(read_files(tmp, names, "text", encoding, spans=spans))
        got = _flatten(read_files(tmp, names, "text", encoding, spans=spans, blocks=True))
        assert got == want


def _write_inbox(folder: Path) -> None:
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(
        b'{"id": 1, "user": "ann", "tags": ["x"]}\n{"id": "2", "user": "bo"}\n\n'
        b'{"id": 3, "user": "caf\xc3\xa9"}\nnot json\n{"id": 4}\n')
    (folder / "b.jsonl").write_bytes(b'{"id": 5, "user": "eve"}\r\n{"id": 6}\r\n')  # a list
    (folder / "c.jsonl").write_bytes(b'{"id": 7, "user": "gus"}\n\xff\xfe\n{"id": 8, "user": "h"}')
    (folder / "d.jsonl.gz").write_bytes(gzip.compress(b'{"id": 9, "user": "i"}\n[]\n'))
    (folder / "e.jsonl").write_bytes(b"")


@pytest.fixture
def blocks_asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The line counts of the blocks the directory reader handed on."""
    seen: list[int] = []
    original = directory_module.DirectoryReader.read_blocks

    def spy(self: Any, partition: str, start: int, end: int) -> Any:
        pieces = original(self, partition, start, end)
        return None if pieces is None else [
            seen.append(p.count) or p if isinstance(p, LineBlock) else p for p in pieces]

    monkeypatch.setattr(directory_module.DirectoryReader, "read_blocks", spy)
    return seen


def _parse_job(tmp_path: Path, name: str, before: bool, sink: bool,
               runner: str = "local") -> tuple[list[Any], list[Any], list[int]]:
    """``directory(...).parse_json(schema)`` (``before``: a ``map`` between, so the
    lines reach it as a list): its records, letters and each batch's input count."""
    ctx = StreamingContext(1.0, tmp_path / f"ckpt-{name}", clock="manual", name=name,
                           runner=runner, workers=2 if runner == "processes" else None)
    lines = ctx.source("directory", path=str(tmp_path / "in"), format="text",
                       max_files_per_batch=2, partitions=2)
    if before:
        lines = lines.map(lambda r: r)
    parsed = lines.parse_json(SCHEMA, required=["id"], output="tuple")
    out: list[Any] = []
    if sink:
        parsed.sink("files", path=str(tmp_path / f"out-{name}"), format="jsonl")
    else:
        parsed.foreach_batch(lambda _, rows: out.extend(rows))
    try:
        ctx.run(until_idle=True)
    finally:
        ctx.stop()
    if sink:
        out = [line for p in sorted((tmp_path / f"out-{name}").glob("batch-*/part-*"))
               for line in p.read_text().splitlines()]
    letters = [(d["record"], d["reason"], d.get("origin")) for d in ctx.dead_letters]
    return sorted(out, key=repr), sorted(letters, key=repr), [
        b.records_in for b in ctx.metrics.batches]


@pytest.mark.parametrize("sink", [False, True], ids=["collected", "streamed-into-files"])
def test_parse_json_over_a_directory_decodes_in_place_with_the_same_output(
        tmp_path, blocks_asked, sink):
    _write_inbox(tmp_path / "in")
    want = _parse_job(tmp_path, "lists", True, sink)
    assert not blocks_asked
    got = _parse_job(tmp_path, "blocks", False, sink)
    assert got == want
    assert sorted(blocks_asked) == [2, 6]  # a and d (gunzipped) as blocks; b (\r\n), c lists
    records, letters, counts = got
    assert len(records) == 8 and sum(counts) == 13  # every line counted, blank ones too
    reasons = {record: reason for record, reason, _ in letters}
    assert reasons["not json"].startswith("invalid JSON")
    assert reasons['{"id": "2", "user": "bo"}'].startswith("does not fit the schema")
    assert any("c.jsonl line 2" in str(origin) for _, _, origin in letters)  # \xff\xfe


def test_parse_json_over_a_directory_on_the_processes_runner(tmp_path):
    _write_inbox(tmp_path / "in")
    assert _parse_job(tmp_path, "procs", False, False, "processes") == _parse_job(
        tmp_path, "local", True, False)


def _json_records(folder: Path, names: list[str], spans: list[Any], decoder: Any,
                  blocks: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patch:
        if not blocks:  # every file decoded line by line (the path taken before)
            patch.setattr(textfiles, "text_block", lambda data, encoding: None)
        return list(read_files(folder, names, "json", "utf-8", spans=spans, decoder=decoder))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=25), last=st.booleans(), cut=st.integers(1, 400),
       output=st.sampled_from(["dict", "tuple"]))
def test_format_json_with_a_schema_decodes_in_place_as_line_by_line(
        monkeypatch, lines, last, cut, output):
    """``format: json`` with ``json_schema``: the same values and dead letters (record,
    reason, origin: file, line and byte) as the line-by-line decode, for whole files and
    byte ranges, blank lines skipped."""
    decoder = DirectorySourceConfig("x", "json", json_schema=SCHEMA, json_required=["id"],
                                    json_output=output).json_decoder()
    with tempfile.TemporaryDirectory() as tmp:
        data = _file(lines, b"\n", last)
        Path(tmp, "a.jsonl").write_bytes(data)
        cut = min(cut, len(data))
        for names, spans in ((["a.jsonl"], [None]),
                             (["a.jsonl"] * 2, [(0, cut, len(data)), (cut, len(data), len(data))])):
            got = _json_records(Path(tmp), names, spans, decoder, True, monkeypatch)
            want = _json_records(Path(tmp), names, spans, decoder, False, monkeypatch)
            assert got == want
            assert all(r.reason and r.origin.startswith(tmp) for r in got
                       if isinstance(r, Rejected))


def test_format_json_with_a_schema_in_a_job(tmp_path):
    _write_inbox(tmp_path / "in")
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual")
    out: list[Any] = []
    (ctx.source("directory", path=str(tmp_path / "in"), format="json", json_output="tuple",
                json_schema=SCHEMA, json_required=["id"])
        .foreach_batch(lambda _, rows: out.extend(rows)))
    ctx.run(until_idle=True)
    assert sorted(out) == [(1, "ann"), (3, "caf\u00e9"), (4, None), (5, "eve"), (6, None),
                           (7, "gus"), (8, "h"), (9, "i")]
    origins = {d["record"]: d.get("origin") for d in ctx.dead_letters}
    assert origins["not json"].endswith("a.jsonl line 5 (byte 94, manifest entry 0)")
    assert "does not fit the schema" in {d["record"]: d["reason"] for d in ctx.dead_letters}[
        '{"id": "2", "user": "bo"}']


def test_json_schema_needs_format_json_and_a_valid_schema():
    with pytest.raises(ConfigError, match="json_schema"):
        DirectorySourceConfig("in", "text", json_schema=SCHEMA).validate("source")
    with pytest.raises(ConfigError, match="json_schema.id"):
        DirectorySourceConfig("in", "json", json_schema={"id": "integer"}).validate("source")
    with pytest.raises(ConfigError, match="json_required"):
        DirectorySourceConfig("in", "json", json_schema=SCHEMA,
                              json_required=["nope"]).validate("source")
