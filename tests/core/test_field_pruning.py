"""JSON column pruning: the plan names the fields a job reads, a reader builds only those.

The plan's half (:func:`etlcore.graph.projection.fields_read`, what the engine hands
``SourceReader.prune_fields``) and the decoder's half (:class:`etlcore.jsonproject.ProjectedJson`:
the whole decode, objects with every field as just those fields), then both in a job whose
output and dead letters must be those of the job without pruning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etlcore import StreamingContext
from etlcore.graph.projection import NO_FIELD_PRUNING, fields_read
from etlcore.jsondecode import JsonDecoder
from etlcore.jsonproject import ProjectedJson
from etlcore.source import Rejected, SourceReader
from etlcore.testing import BatchPerOffset

# -- the decoder ------------------------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None))


def check_pruned(got: tuple[list[Any], list[int], list[str]], whole: JsonDecoder,
                 fields: list[str], texts: list[Any]) -> int:
    """``got`` is the whole decode of ``texts`` but for objects with every field (each a
    scalar), which may be cut to those fields: the same refusals, each record whole or so
    cut. Returns how many were cut."""
    out, at, reasons = whole.decode_split(texts)
    assert (got[1], got[2]) == (at, reasons)
    assert len(got[0]) == len(out)
    cut = 0
    for mine, full in zip(got[0], out, strict=True):
        if mine == full and type(mine) is type(full):
            continue
        assert type(full) is dict and all(isinstance(full.get(f, ()), _SCALARS) for f in fields)
        assert mine == {f: full[f] for f in fields}
        cut += 1
    return cut


EDGES = [
    b'{"user": "ann", "id": 1, "page": "/p/1"}',   # pruned
    b'{"id": 2}',                                   # lacks the field: whole
    b'5', b'"text"', b'[1, 2]', b'null',            # not objects: whole
    b'{"user": ["a"], "id": 3}',                    # a list in the field: whole
    b'{"user": "bo", "x": NaN}', b'{"user": "bo"',  # not JSON: the same reason
    b'{"user": "bo", "x": "\xff"}',                # invalid UTF-8 in a field never read
    b'{"user": "bo", "x": 1e400}',                  # a number beyond a double, unread
    b'{"user": "bo", "x": ' + b"9" * 400 + b'.5}',  # the same without an exponent
    b'{"user": "\xc3\xa9", "x": 2}',                # UTF-8 outside ASCII: whole, same value
    b'{"user": "a", "user": "b"}',                  # the last of a repeated key
    b'{"user": 12345678901234567890123456789, "id": 1}',  # an integer beyond 64 bits
    b'{"user": 1e5, "id": 1}', b'', None,
]


def test_pruned_decode_is_the_whole_decode_cut_to_the_fields() -> None:
    whole = JsonDecoder()
    pruned = ProjectedJson(["user"], whole)
    got = pruned.decode_split(EDGES)
    assert check_pruned(got, whole, ["user"], EDGES) == 2  # ann, and the integer beyond 64 bits
    out, _, reasons = got
    assert out[0] == {"user": "ann"}  # it prunes: off, the record would keep id and page
    assert "invalid JSON: Invalid UTF-8 encoded string" in reasons
    assert "invalid JSON: Number out of range - at `$[...]`" in reasons
    for text in EDGES:  # one by one, as a consumed list with a failure is decoded
        try:
            one: Any = ([pruned.decode(text)], [], [])
        except ValueError as err:
            one = ([], [0], [str(err)])
        check_pruned(one, whole, ["user"], [text])


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from("ab"), inner, max_size=2), max_leaves=4)
_OBJECTS = st.dictionaries(st.sampled_from(["user", "n", "x", "e1"]), _VALUES, max_size=4)
_TEXTS = (_OBJECTS.map(lambda o: json.dumps(o, ensure_ascii=False).encode())
          | _VALUES.map(lambda v: json.dumps(v).encode())
          | st.binary(max_size=12)
          | st.sampled_from(EDGES))


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXTS, max_size=12), st.sampled_from([["user"], ["user", "n"]]))
def test_pruned_decode_of_any_texts_equals_the_whole_decode_cut(texts: list[Any],
                                                                 fields: list[str]) -> None:
    whole = JsonDecoder()
    check_pruned(ProjectedJson(fields, whole).decode_split(texts), whole, fields, texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXTS | st.text(max_size=8), max_size=12))
def test_the_compiled_scan_equals_its_reference(texts: list[Any]) -> None:
    from etlcore._fast import jsondecode_c, jsondecode_ref

    assert jsondecode_c.unsure_texts(texts) == jsondecode_ref.unsure_texts(texts)


# -- the plan ---------------------------------------------------------------------------------

class JsonTexts(BatchPerOffset):
    """JSON texts, one batch of them per position; its reader hears a pruning hint."""

    def __init__(self, batches: list[list[Any]]):
        super().__init__(batches)
        self.readers: list[JsonReader] = []

    def reader(self) -> SourceReader:
        reader = JsonReader(self.batches)
        self.readers.append(reader)
        return reader

    def exhausted(self) -> bool:
        return True


class JsonReader(SourceReader):
    """Decodes untyped JSON, as the kafka source's values (dead letters for misfits)."""

    def __init__(self, batches: list[list[Any]]):
        self.batches = batches
        self.decoder: JsonDecoder | ProjectedJson = JsonDecoder()
        self.hint: frozenset[str] | None = None

    def prune_fields(self, fields: frozenset[str]) -> None:
        self.hint = fields
        self.decoder = ProjectedJson(fields)

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        texts = [t for b in range(start, end) for t in self.batches[b]]
        out, at, reasons = self.decoder.decode_split(texts)
        for i, why in zip(at, reasons, strict=True):
            out.insert(i, Rejected(texts[i], why, f"text {i}"))
        return out


BATCHES = [
    [b'{"user": "ann", "amount": 2, "page": "/a"}', b'{"amount": 5}', b'7',
     b'{"user": "bo", "amount": 1, "x": 1e400}', b'{"user": "ann", "amount": 3}'],
    [b'{"user": ["x"], "amount": 1}', b'{"user": "bo", "amount": 4}', b'{"user": "cy"',
     b'{"user": "cy", "amount": 6, "tags": [1, 2]}'],
]

Build = Callable[[Any], Any]
JOBS: dict[str, tuple[Build, frozenset[str] | None]] = {
    "count by a field": (
        lambda s: s.reduce_by_key_and_window("count", length="2s", key="user"),
        frozenset({"user"})),
    "sum of a field": (lambda s: s.reduce_by_key("sum", key="user", value="amount"),
                       frozenset({"user", "amount"})),
    "the record itself folded": (lambda s: s.reduce_by_key(lambda a, b: a, key="user"), None),
    "a map first": (lambda s: s.map(lambda r: r).reduce_by_key("count", key="user"), None),
    "an index, not a name": (lambda s: s.reduce_by_key("count", key=0), None),
}


def run(build: Build, *, also_raw: bool = False) -> tuple[Any, ...]:
    """A job over :data:`BATCHES`: the hint its reader heard, its output, its dead letters."""
    out: list[Any] = []
    ctx = StreamingContext(1, clock="manual")
    source = JsonTexts(BATCHES)
    stream = ctx.stream(source)
    build(stream).foreach_batch(lambda _, rows: out.extend(sorted(map(repr, rows))))
    if also_raw:  # a second reader of the source's whole records
        stream.foreach_batch(lambda _, rows: None)
    ctx.run(until_idle=True)
    letters = [(d["record"], d["stage"], d["reason"]) for d in ctx.dead_letters]
    return source.readers[0].hint, out, letters


@pytest.mark.parametrize("job", list(JOBS))
def test_a_job_reads_only_its_fields_and_gives_what_it_gives_whole(
        job: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, fields = JOBS[job]
    hint, out, letters = run(build)
    assert hint == fields
    monkeypatch.setenv(NO_FIELD_PRUNING, "1")
    off_hint, off_out, off_letters = run(build)
    assert off_hint is None
    assert (out, letters) == (off_out, off_letters)
    assert len(letters) >= 3  # invalid JSON twice, and the operators' own refusals


def test_a_reader_of_the_whole_records_turns_pruning_off() -> None:
    hint, _, _ = run(JOBS["count by a field"][0], also_raw=True)
    assert hint is None


def test_the_plan_unions_the_fields_of_every_reader() -> None:
    ctx = StreamingContext(1, clock="manual")
    stream = ctx.stream(JsonTexts(BATCHES))
    stream.reduce_by_key("count", key="user").foreach_batch(lambda _, rows: None)
    stream.reduce_by_key("sum", key="page", value="amount").foreach_batch(lambda _, rows: None)
    graph = ctx._graph
    assert fields_read(graph.reachable(), graph.outputs) == {
        graph.sources[0].key: frozenset({"user", "page", "amount"})}
