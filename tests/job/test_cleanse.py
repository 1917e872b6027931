"""Cleanse steps: each repair, each rejection reason and stage, and the metrics."""

import json

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.job import (
    Job,
    Reject,
    cast,
    custom,
    default,
    drop_if,
    parse_json,
    rename,
    require,
    select,
)


def run_job(batches, cleanse, sink_name, **kw):
    job = Job("t", source=("queue", {"batches": batches}), cleanse=cleanse,
              store=[("memory", {"name": sink_name})], clock="manual", **kw)
    ctx = job.build()
    metrics = ctx.run(batches=len(batches))
    return MemorySink.results(sink_name), ctx.dead_letters, metrics


def letters(dead):
    return [(d["stage"], d["reason"]) for d in dead]


def test_each_step_rejects_with_its_reason_and_stage(sink_name):
    good = {"id": "1", "text": "hi", "n": "2.5", "ok": "yes", "at": "2024-01-01T00:00:00Z"}
    batch = [
        json.dumps(good),
        "{truncated",
        "[1, 2]",
        json.dumps({"id": "2"}),
        json.dumps({**good, "n": "lots"}),
        json.dumps({**good, "lang": "xx"}),
    ]

    def no_twos(r):
        if r["id"] == 2:
            raise Reject("id 2 is banned")
        return r

    out, dead, metrics = run_job([batch], [
        parse_json(),
        require(["id", "text"]),
        cast({"id": int, "n": float, "ok": bool, "at": "timestamp"}),
        drop_if(field="lang", op="==", value="xx"),
        custom(no_twos),
    ], sink_name)
    assert out == [{"id": 1, "text": "hi", "n": 2.5, "ok": True, "at": 1704067200.0}]
    assert letters(dead) == [
        ("cleanse[0].parse_json", "invalid JSON: JSON is malformed: object keys must be "
                                  "strings (byte 1), near '{truncate'"),
        ("cleanse[0].parse_json", "expected a JSON object, got list"),
        ("cleanse[1].require", "missing required field 'text'"),
        ("cleanse[2].cast", "field 'n': cannot cast 'lots' to float"),
        ("cleanse[3].drop_if", "dropped: lang == 'xx'"),
    ]
    assert dead[1]["record"] == "[1, 2]"  # the original input, for reprocessing
    assert metrics.last.dead_letters == 5
    assert metrics.summary()["dead_letters"] == 5


def test_custom_reject_and_crash_are_dead_letters_and_the_job_goes_on(sink_name):
    def fix(r):
        if r.get("bad"):
            raise Reject("bad flag")
        return {**r, "fixed": 1 / r["d"]}

    batches = [[{"d": 1}, {"bad": True}, {"d": 0}], [{"d": 2}]]
    out, dead, metrics = run_job(batches, [custom(fix)], sink_name)
    assert out == [{"d": 1, "fixed": 1.0}, {"d": 2, "fixed": 0.5}]
    assert letters(dead) == [("cleanse[0].custom", "bad flag"),
                             ("cleanse[0].custom", "ZeroDivisionError: division by zero")]
    assert [m.dead_letters for m in metrics.batches] == [2, 0]


def test_repairs_default_rename_select(sink_name):
    batch = [{"screen_name": "ann", "lang": None, "x": 1}, {"screen_name": "bob", "lang": "de"}]
    out, dead, _ = run_job([batch], [
        rename({"screen_name": "user"}), default({"lang": "und"}), select(["user", "lang"]),
    ], sink_name)
    assert out == [{"user": "ann", "lang": "und"}, {"user": "bob", "lang": "de"}]
    assert dead == []


@pytest.mark.parametrize(("value", "kind", "expected"), [
    ("7", int, 7), (7.0, "int", 7), ("0.5", float, 0.5), (3, str, "3"),
    ("off", bool, False), (1, bool, True), (12.5, "timestamp", 12.5),
    ("1970-01-01T00:01:00", "timestamp", 60.0),
])
def test_cast_values(value, kind, expected, sink_name):
    out, _, _ = run_job([[{"v": value}]], [cast({"v": kind})], sink_name)
    assert out == [{"v": expected}]


@pytest.mark.parametrize(("value", "kind"), [
    ("7.5", int), (7.5, int), (True, int), ("maybe", bool), ("yesterday", "timestamp"),
])
def test_cast_failures(value, kind, sink_name):
    out, dead, _ = run_job([[{"v": value}]], [cast({"v": kind})], sink_name)
    assert out == []
    assert dead[0]["stage"] == "cleanse[0].cast"
    assert dead[0]["reason"].startswith("field 'v': cannot cast")


def test_drop_if_callable_with_reason(sink_name):
    out, dead, _ = run_job([[1, 2, 3]], [drop_if(lambda r: r % 2 == 0, reason="even")],
                           sink_name)
    assert out == [1, 3]
    assert letters(dead) == [("cleanse[0].drop_if", "even")]


@pytest.mark.parametrize(("steps", "key"), [
    ([parse_json(), cast({"x": "integer"})], "cleanse[1].cast.x"),
    ([require([])], "cleanse[0].require"),
    ([drop_if(field="x", op="~")], "cleanse[0].drop_if.op"),
    ([custom("nope.module:fn")], "cleanse[0].custom"),
    ([{"unknown_step": {}}], "cleanse[0].unknown_step"),
])
def test_bad_steps_are_config_errors_naming_the_key(steps, key):
    with pytest.raises(ConfigError) as err:
        Job("t", source=("queue", {}), cleanse=steps, store=["console"])
    assert err.value.key == key


def test_parse_json_with_a_schema_validates_and_projects_before_the_next_steps(sink_name):
    """A YAML-style schema (type names); the batch is decoded at once, later steps per record,
    and every dead letter keeps the original text."""
    batch = ['{"id": 1, "text": "hi", "lang": "en", "extra": [1, 2]}',
             '{"id": "2", "text": "no"}',
             '{"id": 3}',
             '{"id": 4, "text": "bye", "lang": "xx"}']
    out, dead, _ = run_job([batch], [
        {"parse_json": {"schema": {"id": "int", "text": "str", "lang": "str"},
                        "required": ["id", "text"]}},
        drop_if(field="lang", op="==", value="xx"),
    ], sink_name)
    assert out == [{"id": 1, "text": "hi", "lang": "en"}]
    assert [(d["record"], d["stage"], d["reason"]) for d in dead] == [
        (batch[1], "cleanse[0].parse_json",
         "does not fit the schema: Expected `int`, got `str` - at `$.id`"),
        (batch[2], "cleanse[0].parse_json",
         "does not fit the schema: Object missing required field `text`"),
        (batch[3], "cleanse[1].drop_if", "dropped: lang == 'xx'"),
    ]


def test_parse_json_settings_are_checked_when_the_job_is_defined():
    with pytest.raises(ConfigError, match=r"cleanse\[0\]\.parse_json\.required"):
        Job("t", source=("queue", {"batches": []}), cleanse=[parse_json(required=["id"])],
            store=[("memory", {"name": "x"})])
    with pytest.raises(ConfigError, match=r"cleanse\[0\]\.parse_json.*shema"):
        Job("t", source=("queue", {"batches": []}), cleanse=[{"parse_json": {"shema": {}}}],
            store=[("memory", {"name": "x"})])
