"""The benchmark's line-file feed: every line read exactly once, whatever the byte ranges.

W1 and W3 reach every engine from a file; etlcore reads it through
``LineFileSource``, whose batches and partitions are byte ranges aligned to lines
where the reader runs. A line lost or read twice at a range boundary would change
every W1/W3 answer, so the boundaries are pinned here, and the same job is run on
the local and processes runners.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from benchmarks.data import read_lines
from benchmarks.engines import etlcore_io
from benchmarks.engines.etlcore_io import LineFileSource
from etlcore import StreamingContext


def write(path, lines: list[str]) -> str:
    path.write_bytes("".join(f"{line}\n" for line in lines).encode())
    return str(path)


def read_all(source: LineFileSource) -> list[list[str]]:
    """Every (batch, partition) read in order, as the runners read them."""
    reader = source.reader()
    reader.open(None)
    try:
        return [reader.read(p, b, b + 1) for b in range(source.batches)
                for p in source.partitions()]
    finally:
        reader.close()


def blocks_of(source: LineFileSource) -> list[list[bytes]]:
    """Every (batch, partition) read as blocks of lines (``read_blocks``, what the engine asks
    for when ``parse_json`` reads the source), as the lists of lines they hold."""
    reader = source.reader()
    reader.open(None)
    try:
        blocks = [reader.read_blocks(p, b, b + 1) for b in range(source.batches)
                  for p in source.partitions()]
        return [[line for block in some for line in block.lines()] for some in blocks]
    finally:
        reader.close()


@pytest.mark.parametrize("batch_bytes", [1, 2, 7, 40, 333, 10_000])
@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("overread", [1, 64, 1 << 16])  # lines longer than it read on
def test_every_line_is_read_once_in_order(tmp_path, monkeypatch, batch_bytes, parts, overread):
    monkeypatch.setattr(etlcore_io, "OVERREAD", overread)
    rng = random.Random(batch_bytes * 10 + parts)
    # empty lines, one-byte lines and lines longer than a whole batch, and non-ASCII text
    lines = ["".join(rng.choices("ab é", k=rng.choice([0, 1, 5, 60, 400]))) for _ in range(300)]
    path = write(tmp_path / "in.lines", lines)
    got = read_all(LineFileSource(path, batch_bytes, parts))
    assert [line for chunk in got for line in chunk] == lines
    binary = read_all(LineFileSource(path, batch_bytes, parts, binary=True))
    assert [line for chunk in binary for line in chunk] == [line.encode() for line in lines]
    assert blocks_of(LineFileSource(path, batch_bytes, parts, binary=True)) == binary
    assert read_lines(path) == lines


@pytest.mark.parametrize("binary", [False, True])
def test_a_last_line_without_newline_is_read(tmp_path, binary):
    path = tmp_path / "in.lines"
    path.write_bytes(b"first\nsecond\nno newline")
    got = [line for chunk in read_all(LineFileSource(str(path), 4, 2, binary)) for line in chunk]
    want = ["first", "second", "no newline"]
    assert got == ([line.encode() for line in want] if binary else want)
    if binary:
        assert [line for chunk in blocks_of(LineFileSource(str(path), 4, 2, binary))
                for line in chunk] == [line.encode() for line in want]
    else:  # its records are str: no block of bytes lines stands for them
        assert LineFileSource(str(path), 4, 2).reader().read_blocks("0", 0, 1) is None


def test_batches_of_about_so_many_lines(tmp_path):
    lines = [f"line {i:05d}" for i in range(10_000)]  # all 11 bytes long
    source = LineFileSource.of_lines(write(tmp_path / "in.lines", lines), len(lines), 2_500, 2)
    assert source.batches == 4
    assert [len(chunk) for chunk in read_all(source)] == [1_250] * 8


def test_a_file_without_lines_has_no_batches(tmp_path):
    source = LineFileSource(write(tmp_path / "in.lines", []), 100, 2)
    assert source.batches == 0 and read_all(source) == []


def test_batch_bytes_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="batch_bytes"):
        LineFileSource(write(tmp_path / "in.lines", ["a"]), 0)


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_a_word_count_over_the_file_matches_on_both_runners(tmp_path, runner):
    rng = random.Random(8)
    words = [f"w{i}" for i in range(50)]
    lines = [" ".join(rng.choices(words, k=rng.randint(1, 9))) for _ in range(3_000)]
    path = write(tmp_path / "in.lines", lines)
    want: dict[str, int] = {}
    for line in lines:
        for word in line.split():
            want[word] = want.get(word, 0) + 1
    got: dict[str, int] = {}
    batches: list[int] = []

    def merge(batch_id: int, counts: list[tuple[str, int]]) -> None:
        batches.append(batch_id)
        for word, n in counts:
            got[word] = got.get(word, 0) + n

    ctx = StreamingContext(1, clock="manual", runner=runner,
                           workers=2 if runner == "processes" else None)
    (ctx.stream(LineFileSource.of_lines(path, len(lines), 500, 2))
        .flat_map(str.split).count_by_value().foreach_batch(merge))
    ctx.run(until_idle=True)
    assert got == want
    assert len(batches) >= 6  # about 3,000 / 500 batches, each with its records


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_parse_json_over_the_file_letters_what_a_list_of_lines_letters(tmp_path, runner):
    """W3's job reads each batch as a block of lines (``read_blocks``) and decodes them where
    they lie; its records and dead letters are those of the same lines handed over as a list."""
    from benchmarks.engines.base import w3_schema

    rng = random.Random(3)
    lines = []
    for i in range(2_000):
        amount = rng.choice(["1.5", "-2", "null", "0", '"x"'])
        line = f'{{"id": {i}, "user": "u{i % 7}", "amount": {amount}, "tags": ["a"]}}'
        lines.append(rng.choice([line, line, line, line[:rng.randint(0, 30)], "", "[1]"]))
    path = write(tmp_path / "in.lines", lines)

    def job(stream_of: Any, **kwargs: Any) -> tuple[list[Any], list[tuple[Any, str]]]:
        out: list[Any] = []
        ctx = StreamingContext(1, clock="manual", **kwargs)
        (stream_of(ctx).parse_json(w3_schema(), required=["id", "user", "amount"],
                                   output="tuple")
            .foreach_batch(lambda _, rows: out.extend(rows)))
        ctx.run(until_idle=True)
        return out, [(d["record"], d["reason"]) for d in ctx.dead_letters]

    got = job(lambda ctx: ctx.stream(LineFileSource.of_lines(path, len(lines), 300, 2, True)),
              runner=runner, workers=2 if runner == "processes" else None)
    want = job(lambda ctx: ctx.queue_stream([[line.encode() for line in lines]]))
    assert sorted(got[0]) == sorted(want[0]) and len(want[0]) > 200
    assert sorted(got[1]) == sorted(want[1]) and len(want[1]) > 500
