"""The JSON decoder (etlcore.jsondecode): strictness, schemas, batch decoding, pickling,
and ``Stream.parse_json`` in a job, with the decoder's reasons in the dead letters."""

from __future__ import annotations

import gc
import json
import pickle
from typing import Annotated

import cloudpickle
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.jsondecode import JsonDecodeError, JsonDecoder, loads

SCHEMA = {"id": int, "user": str, "amount": Annotated[float, msgspec.Meta(ge=0)]}


class Click(msgspec.Struct):
    id: int
    user: str
    tags: list[str] = []


def reason(decoder: JsonDecoder, raw: object) -> str:
    with pytest.raises(JsonDecodeError) as info:
        decoder.decode(raw)
    return info.value.reason


# -- untyped -------------------------------------------------------------------------------

def test_untyped_values_keep_integers_of_any_size_exact():
    assert loads('{"n": 123456789012345678901234567890, "x": [1.5, null, "é"]}') == {
        "n": 123456789012345678901234567890, "x": [1.5, None, "é"]}
    assert loads(b"-9223372036854775809") == -9223372036854775809


@pytest.mark.parametrize("text,why", [
    ('{"v": NaN}', "invalid JSON: JSON is malformed: invalid character (byte 6), "
                   "near '{\"v\": NaN}'"),
    ('{"v": -Infinity}', "invalid JSON: JSON is malformed: invalid character (byte 7), "
                         "near '{\"v\": -Infinity'"),
    ('{"v": 1e400}', "invalid JSON: Number out of range - at `$[...]`"),
    ('{"n": 2,', "invalid JSON: Input data was truncated"),
    ('{"a": 1} x', "invalid JSON: JSON is malformed: trailing characters (byte 10), "
                   "near 'a\": 1} x'"),
    (b'"caf\xe9"', "invalid JSON: Invalid UTF-8 encoded string"),
    ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    (7, "expected JSON text, got int"),
])
def test_untyped_decoding_is_strict_and_says_why(text, why):
    """What Python's json takes but JSON is not (NaN, Infinity, overflow) is refused too."""
    assert reason(JsonDecoder(), text) == why


def test_parse_json_wants_objects_and_passes_decoded_dicts_on():
    decoder = JsonDecoder(objects_only=True)
    assert decoder.decode({"already": "decoded"}) == {"already": "decoded"}
    assert reason(decoder, "[1, 2]") == "expected a JSON object, got list"
    assert reason(decoder, "null") == "expected a JSON object, got NoneType"


# -- schemas -------------------------------------------------------------------------------

def test_a_schema_validates_and_projects_in_one_pass():
    decoder = JsonDecoder(SCHEMA, required=["id", "user", "amount"])
    text = '{"id": 1, "user": "ann", "amount": 2, "country": "DE", "tags": ["web"]}'
    assert decoder.decode(text) == {"id": 1, "user": "ann", "amount": 2.0}  # only the schema
    assert reason(decoder, '{"id": 1, "user": "ann", "amount": -0.25}') == (
        "does not fit the schema: Expected `float` >= 0.0 - at `$.amount`")
    assert reason(decoder, '{"id": 1, "user": "ann", "amount": null}') == (
        "does not fit the schema: Expected `float`, got `null` - at `$.amount`")
    assert reason(decoder, '{"id": 1, "user": "ann"}') == (
        "does not fit the schema: Object missing required field `amount`")
    assert reason(decoder, '{"id": true, "user": "ann", "amount": 1}') == (
        "does not fit the schema: Expected `int`, got `bool` - at `$.id`")
    assert reason(decoder, '{"id": 1, "user": "ann", "amount": 1') == (
        "invalid JSON: Input data was truncated")


def test_fields_not_required_may_be_missing_or_null_and_come_out_as_none():
    decoder = JsonDecoder({"id": "int", "user": "str", "n": "float"}, required=["id"],
                          output="tuple")
    assert decoder.decode('{"id": 1}') == (1, None, None)
    assert decoder.decode('{"id": 2, "user": null, "n": 3}') == (2, None, 3.0)
    assert decoder.decode({"id": 3, "user": "bob"}) == (3, "bob", None)  # a decoded dict
    assert reason(decoder, {"id": "x"}) == (
        "does not fit the schema: Expected `int`, got `str` - at `$.id`")
    assert JsonDecoder({"id": "int", "n": "float"}, required=["id"]).decode('{"id": 1}') == {
        "id": 1, "n": None}


def test_a_msgspec_struct_is_a_schema():
    decoder = JsonDecoder(Click)
    assert decoder.decode('{"id": 1, "user": "a", "x": 0}') == Click(1, "a", [])
    assert JsonDecoder(Click, output="dict").decode('{"id": 1, "user": "a"}') == {
        "id": 1, "user": "a", "tags": []}
    assert reason(decoder, '{"id": 1}') == (
        "does not fit the schema: Object missing required field `user`")


@pytest.mark.parametrize("kwargs,key,expected", [
    ({"required": ["id"]}, "parse_json.required", "a schema that names these fields"),
    ({"schema": {"id": int}, "required": ["idd"]}, "parse_json.required",
     "fields of the schema (id)"),
    ({"schema": {"id": "integer"}}, "parse_json.schema.id", "a type or one of int"),
    ({"schema": {"id": int}, "output": "list"}, "parse_json.output", "'dict', 'tuple'"),
    ({"schema": {"id": int}, "output": "struct"}, "parse_json.output", "'dict' or 'tuple'"),
    ({"schema": []}, "parse_json.schema", "a non-empty mapping"),
    ({"schema": Click, "required": ["id"]}, "parse_json.required", "nothing for a msgspec"),
    ({"schema": {"id": object()}}, "parse_json.schema", "types msgspec can decode"),
])
def test_bad_settings_name_the_key_before_anything_runs(kwargs, key, expected):
    with pytest.raises(ConfigError) as info:
        JsonDecoder(**kwargs)
    assert f"'{key}'" in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_a_decoder_travels_to_workers_as_its_settings(dumps):
    decoder = JsonDecoder(SCHEMA, required=["id"], output="tuple")
    again = pickle.loads(dumps(decoder))
    assert again.decode('{"id": 1, "amount": 2}') == (1, None, 2.0)
    assert reason(again, '{"id": 1, "amount": -1}').endswith("Expected `float` >= 0.0 - at "
                                                             "`$.amount`")


# -- a batch at once -------------------------------------------------------------------------

_TEXTS = st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["id", "user", "amount"]), inner, max_size=3),
                 max_leaves=6).map(json.dumps),
    st.sampled_from(['{"id": 1, "user": "a", "amount": 0.5}', '{"id": 1,', "", "nan", '"x"']),
    st.dictionaries(st.sampled_from(["id", "user"]), st.integers() | st.text(max_size=3)),
    st.integers(),
)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_TEXTS, max_size=30),
       schema=st.sampled_from([None, {"id": int, "user": str}]))
def test_decode_many_equals_decoding_one_by_one(texts, schema):
    """The C batch path (resuming after each failure) keeps order, indices and reasons."""
    decoder = JsonDecoder(schema, ["id"] if schema else None,
                          "tuple" if schema else None, objects_only=True)
    expected_values, expected_failed = [], []
    for i, text in enumerate(texts):
        try:
            expected_values.append(decoder.decode(text))
        except JsonDecodeError as err:
            expected_failed.append((i, err.reason))
    assert decoder.decode_many(texts) == (expected_values, expected_failed)


# W3-like records: good ones, wrong types, missing or null fields, negative amounts, integers
# beyond 64 bits, extra fields; as text (sometimes cut short: malformed) or as decoded dicts.
_VALUES = (st.integers() | st.integers(min_value=2**63 - 2, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4)
           | st.booleans() | st.none())
_RECORDS = st.fixed_dictionaries(
    {"id": st.integers(-2**64, 2**64), "user": st.text(max_size=4),
     "amount": st.floats(min_value=-1, max_value=1e6)},
    optional={"country": st.text(max_size=2), "tags": st.lists(st.text(max_size=2), max_size=2)},
).flatmap(lambda rec: st.dictionaries(st.sampled_from(["id", "user", "amount"]), _VALUES,
                                      max_size=2).map(lambda bad: {**rec, **bad})
          | st.just(rec) | st.sampled_from(sorted(rec)).map(lambda k: {f: v for f, v in rec.items()
                                                                        if f != k}))
_LINES = st.one_of(
    _RECORDS.map(json.dumps),
    st.tuples(_RECORDS.map(json.dumps), st.integers(0, 40)).map(lambda t: t[0][:t[1]]),
    _RECORDS,  # a decoded dict (a ``format: dict`` source)
    _TEXTS,
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_LINES, max_size=40),
       settings_=st.sampled_from([
           (SCHEMA, ["id", "user", "amount"], "tuple"), (SCHEMA, ["id", "user", "amount"], "dict"),
           (SCHEMA, ["id"], "tuple"), (SCHEMA, ["id"], "dict"), (Click, None, "struct"),
           (Click, None, "tuple"), (None, None, None)]))
def test_decode_many_equals_decoding_one_by_one_on_mixed_records(lines, settings_):
    """The bulk path (decode and project pipelined in C, reasons worded after the loop)
    gives exactly what decoding each line alone gives: values, indices and reasons."""
    schema, required, output = settings_
    decoder = JsonDecoder(schema, required, output, objects_only=True)
    expected_values, expected_failed = [], []
    for i, line in enumerate(lines):
        try:
            expected_values.append(decoder.decode(line))
        except JsonDecodeError as err:
            expected_failed.append((i, err.reason))
    assert decoder.decode_many(lines) == (expected_values, expected_failed)
    assert decoder.decode_many(iter(lines)) == (expected_values, expected_failed)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(_LINES, max_size=40),
       settings_=st.sampled_from([
           (SCHEMA, ["id", "user", "amount"], "tuple"), (SCHEMA, ["id"], "tuple"),
           (SCHEMA, ["id"], "dict"), (Click, None, "tuple"), (Click, None, "dict"),
           (Click, None, "struct"), (None, None, None)]))
def test_the_compiled_batch_loop_equals_its_reference(lines, settings_):
    """``jsondecode_c`` (slots read in C, failures kept as messages) and ``jsondecode_ref``
    (``map`` and msgspec's own projections) give the same records and reasons."""
    from etlcore import jsondecode
    from etlcore._fast import jsondecode_c, jsondecode_ref

    schema, required, output = settings_
    decoder = JsonDecoder(schema, required, output, objects_only=True)
    got = {}
    for kernel in (jsondecode_c, jsondecode_ref):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(jsondecode, "_kernel", kernel)
            got[kernel] = decoder.decode_many(lines)
    assert got[jsondecode_c] == got[jsondecode_ref]
    assert [type(v) for v in got[jsondecode_c][0]] == [type(v) for v in got[jsondecode_ref][0]]


class Logged(msgspec.Struct):
    id: int
    payload: msgspec.Raw = msgspec.Raw(b"null")  # keeps the buffer it was decoded from


# lines of bytes as a file holds them: W3-like records (some cut short), other JSON, bad UTF-8
_BYTE_LINES = st.one_of(
    st.tuples(_RECORDS.map(json.dumps), st.integers(0, 60)).map(lambda t: t[0][:t[1]].encode()),
    st.builds(lambda i, p: json.dumps({"id": i, "payload": p}).encode(), st.integers(-3, 3),
              st.lists(st.integers(), max_size=2) | st.text(max_size=3)),
    _TEXTS.filter(lambda t: isinstance(t, str)).map(str.encode),
    st.sampled_from([b'{"id": 1, "user": "\xff"}', b"\r", b" ", b'{"id": 1, "user": "a", '
                     b'"amount": 1e400}']),
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_BYTE_LINES, min_size=1, max_size=40),
       pad=st.tuples(st.binary(max_size=3), st.binary(max_size=3)),
       settings_=st.sampled_from([
           (SCHEMA, ["id", "user", "amount"], "tuple"), (SCHEMA, ["id"], "dict"),
           (Click, None, "tuple"), (Click, None, "struct"), (Logged, None, "struct"),
           (Logged, None, "tuple"), (None, None, None)]))
def test_lines_read_in_their_buffer_decode_as_the_lines_themselves(lines, pad, settings_):
    """``decode_lines`` (each line a view of the block, C and reference) gives the records
    and reasons of ``decode_split`` over the lines as bytes, and the refused lines as bytes.
    A ``msgspec.Raw`` field (which keeps the buffer object it was decoded from) holds its own
    line's bytes."""
    from etlcore import jsondecode
    from etlcore._fast import jsondecode_c, jsondecode_ref
    from etlcore.lineblock import LineBlock

    schema, required, output = settings_
    decoder = JsonDecoder(schema, required, output, objects_only=True)
    # the last line's newline in the block or not (it must be there after an empty last line)
    end = b"\n" if not lines[-1] or len(lines) % 2 else b""
    data = pad[0] + b"\n".join(lines) + end + pad[1]
    block = LineBlock(data, len(pad[0]), len(data) - len(pad[1]))
    assert block.lines() == lines and block.count == len(lines)
    values, at, reasons = decoder.decode_split(lines)
    for kernel in (jsondecode_c, jsondecode_ref):
        fresh = LineBlock(data, block.start, block.stop)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(jsondecode, "_kernel", kernel)
            got = decoder.decode_lines(fresh)
        assert got == (values, [lines[i] for i in at], reasons)
        assert fresh._count == len(lines)  # noted as the lines were decoded, not recounted
        assert [type(v) for v in got[0]] == [type(v) for v in values]


def test_decode_lines_refuses_a_span_outside_the_data():
    from etlcore._fast import jsondecode_c, jsondecode_ref

    decoder = JsonDecoder(SCHEMA, ["id"], "tuple")
    for kernel in (jsondecode_c, jsondecode_ref):
        with pytest.raises(ValueError, match="start and stop"):
            kernel.decode_lines(decoder._one, None, None, None, None, b"{}", 1, 3, (ValueError,))


def test_compiled_projection_reads_every_field_and_keeps_containers_tracked(monkeypatch):
    """Records of plain values are left to reference counting; a record holding a list
    stays known to the cycle collector (the list could be made part of a cycle)."""
    from etlcore import jsondecode
    from etlcore._fast import jsondecode_c

    monkeypatch.setattr(jsondecode, "_kernel", jsondecode_c)  # also under ETLCORE_PURE_PYTHON
    decoder = JsonDecoder(Click, output="tuple")
    assert decoder._offsets is not None  # the compiled path reads Click's slots
    (plain, tagged), failed = decoder.decode_many(['{"id": 1, "user": "a", "x": 2}',
                                                   '{"id": 2, "user": "b", "tags": ["t"]}'])
    assert (plain, tagged, failed) == ((1, "a", []), (2, "b", ["t"]), [])
    assert gc.is_tracked(tagged) and gc.is_tracked(plain)  # [] is a list too
    flat = JsonDecoder(SCHEMA, ["id"], "dict").decode_many(['{"id": 3, "amount": 1}'])[0]
    assert flat == [{"id": 3, "user": None, "amount": 1.0}] and not gc.is_tracked(flat[0])
    (row,), _ = JsonDecoder(SCHEMA, ["id", "user", "amount"], "tuple").decode_many(
        ['{"id": 4, "user": "d", "amount": 0.5}'])
    assert row == (4, "d", 0.5) and not gc.is_tracked(row)


@pytest.mark.parametrize("kernel", ["jsondecode_c", "jsondecode_ref"])
def test_decode_split_words_each_distinct_misfit_once(kernel, monkeypatch):
    """``decode_split`` is ``decode_many`` with the failures as two lists; the kernel words the
    schema's misfits itself, one reason object per distinct message, and leaves only text that
    is not JSON to be worded after the loop (with the text around the bad byte)."""
    from etlcore import jsondecode
    from etlcore._fast import jsondecode_c, jsondecode_ref

    monkeypatch.setattr(jsondecode, "_kernel", {"jsondecode_c": jsondecode_c,
                                                "jsondecode_ref": jsondecode_ref}[kernel])
    decoder = JsonDecoder(SCHEMA, ["id", "user", "amount"], "tuple")
    lines = ['{"id": 1, "user": "a", "amount": -1}', '{"id": 2, "user": "b", "amount": 2}',
             '{"id": 3, "user": "c", "amount": -5}', '{"id": 4, "user": NaN}',
             '{"id": 5, "user": "e", "amount": null}', '{"id": 6, "user": "f", "amount": -2}']
    values, at, reasons = decoder.decode_split(lines)
    assert values == [(2, "b", 2.0)] and at == [0, 2, 3, 4, 5]
    assert (values, list(zip(at, reasons, strict=True))) == decoder.decode_many(lines)
    negative = "does not fit the schema: Expected `float` >= 0.0 - at `$.amount`"
    assert reasons[0] == negative and reasons[1] is reasons[0] and reasons[4] is reasons[0]
    assert reasons[2].startswith("invalid JSON: ") and "near" in reasons[2]
    assert reasons[3] == "does not fit the schema: Expected `float`, got `null` - at `$.amount`"


def test_parse_json_hands_on_its_own_list_where_other_steps_get_a_copy():
    """The decoder's list is new and nobody else's, so its node passes it on as it is (no
    copy touching every record); a step that may hand back a list it holds is copied."""
    from etlcore.graph.base import MapPartitionsNode, TaskContext

    ctx = StreamingContext(batch_interval="1s", clock="manual")
    node = ctx.queue_stream([]).parse_json(SCHEMA, required=["id"], output="tuple").node
    run = TaskContext(None, 0)  # type: ignore[arg-type]
    assert isinstance(node, MapPartitionsNode) and node.fresh
    assert node.apply(['{"id": 1}', "[]"], run, None) == [(1, None, None)]
    held = [(1, "a", 2.0)]
    fresh = MapPartitionsNode(node, "fresh", lambda part, run: held, fresh=True)
    shared = MapPartitionsNode(node, "shared", lambda part, run: held)
    assert fresh.apply([], run, None) is held
    assert shared.apply([], run, None) == held and shared.apply([], run, None) is not held
    assert MapPartitionsNode(node, "gen", lambda part, run: iter(held), fresh=True).apply(
        [], run, None) == held  # not a list: made into one


def test_decode_many_leaves_no_garbage_behind_its_failures():
    """A failure's error is kept until its reason is worded; its traceback (which points back
    at the loop's frame) is not, so the batch is freed by reference counting alone: the
    engine runs batches with the cycle collector off."""
    decoder = JsonDecoder(SCHEMA, ["id", "user", "amount"], "tuple")
    lines = ['{"id": 1, "user": "a", "amount": -1}', '{"id": 2,', '{"id": 3, "user": "b", '
             '"amount": 1}', {"id": 4}, {"id": 5, "user": "c", "amount": 2}] * 50
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        values, failed = decoder.decode_many(lines)
        del values, failed
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()


# -- in a job --------------------------------------------------------------------------------

@pytest.mark.parametrize("runner", ["local", "processes"])
def test_stream_parse_json_dead_letters_what_does_not_fit(sink_name, runner):
    lines = ['{"id": 1, "user": "ann", "amount": 2.5, "country": "DE"}',
             '{"id": 2, "user": "bob", "amount": -1}',
             '{"id": 3, "user": "cy"',
             '{"id": 4, "user": "dee", "amount": 0}',
             '{"id": 5, "user": "eve"}']
    ctx = StreamingContext(1.0, clock="manual", runner=runner,
                           **({"workers": 2} if runner == "processes" else {}))
    (ctx.queue_stream([lines[:3], lines[3:]])
        .parse_json(SCHEMA, required=["id", "user", "amount"], output="tuple")
        .sink("memory", name=sink_name))
    ctx.run(batches=2)
    assert MemorySink.batches(sink_name) == {0: [(1, "ann", 2.5)], 1: [(4, "dee", 0.0)]}
    assert [(d["record"], d["stage"], d["reason"]) for d in ctx.dead_letters] == [
        (lines[1], "parse_json-1", "does not fit the schema: Expected `float` >= 0.0 - at "
                                   "`$.amount`"),
        (lines[2], "parse_json-1", "invalid JSON: Input data was truncated"),
        (lines[4], "parse_json-1", "does not fit the schema: Object missing required field "
                                   "`amount`"),
    ]
    assert [(b.dead_letters, b.dead_letter_reasons) for b in ctx.metrics.batches] == [
        (2, {"does not fit the schema: Expected `float` >= 0.0 - at `$.amount`": 1,
             "invalid JSON: Input data was truncated": 1}),
        (1, {"does not fit the schema: Object missing required field `amount`": 1}),
    ]
