"""A source's lines handed to ``parse_json`` as one buffer (``SourceReader.read_blocks``).

The engine asks the reader for blocks of lines (:class:`~etlcore.lineblock.LineBlock`) only when
``parse_json`` (alone, or fused with the steps after it) is the source's one reader in
the task; the records, dead letters and counts must be those of the same lines read as
a list, and any other shape of job must still get the list.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import msgspec
import pytest

from etlcore import StreamingContext
from etlcore.lineblock import LineBlock
from etlcore.source import SourceReader
from etlcore.testing import BatchPerOffset

SCHEMA = {"id": int, "user": str, "amount": Annotated[float, msgspec.Meta(ge=0)]}
BATCHES = [
    [b'{"id": 1, "user": "ann", "amount": 2.5, "tags": ["x"]}', b'{"id": 2, "user": "b"',
     b'{"id": 3, "user": "cy", "amount": -1}', b"", b'{"id": 4, "user": "dee", "amount": 0}'],
    [b'{"id": 5, "user": "eve", "amount": NaN}', b'{"id": 6, "user": "fay", "amount": 7}',
     b'{"id": 7, "user": "gus", "amount": 1}'],
]
CALLS: Counter[str] = Counter()  # what the engine asked the reader for (local runner)


class LinesSource(BatchPerOffset):
    """A batch of bytes lines per position, one partition; its reader offers blocks."""

    rejects = False

    def reader(self) -> SourceReader:
        return LinesReader(self.batches)

    def exhausted(self) -> bool:
        return True


class LinesReader(SourceReader):
    def __init__(self, batches: list[list[bytes]]):
        self.batches = batches

    def read(self, partition: str, start: int, end: int) -> list[bytes]:
        CALLS["read"] += 1
        return [line for b in range(start, end) for line in self.batches[b]]

    def read_blocks(self, partition: str, start: int, end: int) -> list[LineBlock] | None:
        CALLS["read_blocks"] += 1
        # a buffer with bytes around the lines, as a file read that began early and ran on
        data = b"junk\n" + b"\n".join(self.read(partition, start, end)) + b"\nmore"
        CALLS["read"] -= 1
        return [LineBlock(data, 5, len(data) - 4)]  # through the last line's newline


def run(stream_of: Any, build: Any, **kwargs: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """The job's records, its dead letters and each batch's input count and letters."""
    out: list[Any] = []
    ctx = StreamingContext(1, clock="manual", **kwargs)
    build(stream_of(ctx)).foreach_batch(lambda _, rows: out.extend(rows))
    ctx.run(until_idle=True)
    letters = [(d["record"], d["stage"], d["reason"]) for d in ctx.dead_letters]
    return out, letters, [(b.records_in, b.dead_letters) for b in ctx.metrics.batches]


def parse(stream: Any) -> Any:
    return stream.parse_json(SCHEMA, required=["id", "user", "amount"], output="tuple")


@pytest.mark.parametrize("build", [
    parse,
    lambda s: parse(s).map(lambda r: (r[0] * 10, r[1])).filter(lambda r: r[0] > 10),  # fused
    lambda s: s.parse_json(),  # no schema: objects only, the lines split out first
], ids=["parse_json", "fused", "untyped"])
def test_parse_json_reads_the_lines_in_their_buffer_and_gives_the_same_records(build):
    CALLS.clear()
    got = run(lambda ctx: ctx.stream(LinesSource(BATCHES)), build)
    assert CALLS == {"read_blocks": 2, "read": 0}
    want = run(lambda ctx: ctx.queue_stream(BATCHES), build)
    assert got == want
    assert got[1] and [n for n, _ in got[2][:2]] == [5, 3]  # every line counted


def test_a_source_read_by_more_than_parse_json_gets_its_list():
    def both(stream: Any) -> Any:
        return parse(stream).union(stream.filter(lambda line: line == b""))

    CALLS.clear()
    got = run(lambda ctx: ctx.stream(LinesSource(BATCHES)), both)
    assert CALLS == {"read": 2}
    assert got == run(lambda ctx: ctx.queue_stream(BATCHES), both)
    assert b"" in got[0]


def test_an_operator_before_parse_json_gets_the_list():
    def build(stream: Any) -> Any:
        return parse(stream.map(bytes.strip))

    CALLS.clear()
    got = run(lambda ctx: ctx.stream(LinesSource(BATCHES)), build)
    assert CALLS == {"read": 2}
    assert got == run(lambda ctx: ctx.queue_stream(BATCHES), build)


def test_the_same_records_on_the_processes_runner():
    got = run(lambda ctx: ctx.stream(LinesSource(BATCHES)), parse, runner="processes", workers=2)
    assert got == run(lambda ctx: ctx.queue_stream(BATCHES), parse)


def test_a_block_counts_its_lines_and_checks_its_bounds():
    block = LineBlock(b"a\n\nb\nc", 2, 5)  # no empty piece after a last newline
    assert (block.count, len(block), block.lines()) == (2, 2, [b"", b"b"])
    assert LineBlock(b"a\nb").count == 2 and LineBlock(b"a\nb\n").lines() == [b"a", b"b"]
    assert LineBlock(b"\n\n").lines() == [b"", b""] and LineBlock(b"x\n").count == 1
    assert LineBlock(b"").lines() == [] and LineBlock(b"abc", 1, 1).count == 0
    text = LineBlock("\u00e9\n\nz".encode(), text=True)
    assert (text.lines(), text.terminated()) == (["\u00e9", "", "z"], "\u00e9\n\nz\n".encode())
    with pytest.raises(ValueError, match="start and stop"):
        LineBlock(b"abc", 2, 1)
