"""YAML jobs that say the whole DStream API: each operator equals the same job written
with the stream API; several sources and named streams; state functions; mistakes name
their key; the JSON Schema accepts the examples and refuses what the parser refuses."""

from __future__ import annotations

import copy
import heapq
import random
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.job import Job, load_yaml_job
from etlcore.job.jsonschema import job_schema
from etlcore.job.operators import OPERATORS
from etlcore.job.state_functions import STATE_FUNCTIONS
from etlcore.job.yamlspec import job_from_mapping
from etlcore.stream import Stream

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

rng = random.Random(5)
PAIRS = [[(rng.choice("abcd"), rng.randint(0, 4)) for _ in range(rng.randint(0, 5))]
         for _ in range(6)]
OTHER = [[(rng.choice("cdef"), rng.randint(0, 4)) for _ in range(rng.randint(0, 3))]
         for _ in range(6)]
EVENTS = [[{"user": rng.choice("xy"), "ts": 1000.0 + i + j / 4, "n": j} for j in range(3)]
          for i in range(6)]


def add(a: Any, b: Any) -> Any:
    return a + b


def sub(a: Any, b: Any) -> Any:
    return a - b


def digits(v: int) -> list[int]:
    return list(range(v))


def second(pair: Any) -> Any:
    return pair[1]


def evens(records: list[Any]) -> list[Any]:
    return [kv for kv in records if kv[1] % 2 == 0]


def keys_of_other(left: list[Any], right: list[Any]) -> list[Any]:
    keys = {k for k, _ in right}
    return [kv for kv in left if kv[0] in keys]


def totals(key: Any, value: Any, state: Any) -> Any:
    total = state.get_option(0) + value
    state.update(total)
    return (key, total)


def lookup() -> dict[str, str]:
    return {"a": "A", "c": "C"}


HERE = "tests.job.test_yaml_dstream"

# operator -> (YAML settings, the same with the stream API, input)
CASES: dict[str, tuple[Any, Callable[[Stream, Stream], Stream], list[Any]]] = {
    "map_values": ({"function": f"{HERE}:digits"}, lambda s, o: s.map_values(digits), PAIRS),
    "flat_map_values": (f"{HERE}:digits", lambda s, o: s.flat_map_values(digits), PAIRS),
    "map_partitions": (f"{HERE}:evens", lambda s, o: s.map_partitions(evens), PAIRS),
    "transform": (f"{HERE}:evens", lambda s, o: s.transform(evens), PAIRS),
    "reduce": ({"func": f"{HERE}:add"}, lambda s, o: s.map(second).reduce(add), PAIRS),
    "repartition": (3, lambda s, o: s.repartition(3), PAIRS),
    "union": (["other"], lambda s, o: s.union(o), PAIRS),
    "cogroup": ("other", lambda s, o: s.cogroup(o), PAIRS),
    "transform_with": ({"stream": "other", "function": f"{HERE}:keys_of_other"},
                       lambda s, o: s.transform_with(o, keys_of_other), PAIRS),
    "join": ({"stream": "other"}, lambda s, o: s.join(o), PAIRS),
    "left_outer_join": ({"loader": f"{HERE}:lookup", "reload_every": 2},
                        lambda s, o: s.left_outer_join(lookup, reload_every=2), PAIRS),
    "right_outer_join": ("other", lambda s, o: s.right_outer_join(o), PAIRS),
    "full_outer_join": ({"stream": "other", "num_partitions": 3},
                        lambda s, o: s.full_outer_join(o, 3), PAIRS),
    "group_by_key_and_window": ({"length": "3s", "slide": "2s"},
                                lambda s, o: s.group_by_key_and_window(3, 2), PAIRS),
    "reduce_by_window": ({"func": f"{HERE}:add", "inv_func": f"{HERE}:sub", "length": "3s"},
                         lambda s, o: s.map(second).reduce_by_window(add, sub, 3),
                         PAIRS),
    "reduce_by_key_and_window": (
        {"func": f"{HERE}:add", "inv_func": f"{HERE}:sub", "length": "3s",
         "filter_func": "nonzero"},
        lambda s, o: s.reduce_by_key_and_window(add, sub, 3, filter_func=lambda kv: kv[1] != 0),
        PAIRS),
    "update_state_by_key": ({"function": "top_n", "n": 2, "initial": {"a": [9]}},
                            lambda s, o: s.update_state_by_key(
                                lambda new, old: heapq.nlargest(2, (old or []) + new),
                                initial_state={"a": [9]}), PAIRS),
    "map_with_state": (f"{HERE}:totals", lambda s, o: s.map_with_state(totals), PAIRS),
    "tumbling_window": (
        {"size": "2s", "key": "user", "value": "n", "agg": "sum"},
        lambda s, o: s.with_event_time(lambda r: r["ts"], 0).tumbling_window(
            2, key=lambda r: r["user"], value=lambda r: r["n"]), EVENTS),
    "sliding_window": (
        {"size": "2s", "slide": "1s", "key": "user", "agg": "count", "emit": "update"},
        lambda s, o: s.with_event_time(lambda r: r["ts"], 0).sliding_window(
            2, 1, key=lambda r: r["user"], agg="count", emit="update"), EVENTS),
    "session_window": (
        {"gap": "0.5s", "key": "user", "agg": "count"},
        lambda s, o: s.with_event_time(lambda r: r["ts"], 0).session_window(
            0.5, key=lambda r: r["user"], agg="count"), EVENTS),
}
EVENT_OPS = {"tumbling_window", "sliding_window", "session_window"}
VALUES_OPS = {"reduce", "reduce_by_window"}  # fold the values: a map comes first


def _yaml_job(op: str, settings: Any, data: list[Any], sink: str) -> Job:
    steps: list[Any] = [{"with_event_time": {"field": "ts", "max_delay": 0}}] if op in EVENT_OPS else []
    if op in VALUES_OPS:
        steps.append({"map": f"{HERE}:second"})
    doc = {"name": f"yaml-{op}", "from": "main",
           "sources": {"main": {"type": "queue", "config": {"batches": data}},
                       "other": {"type": "queue", "config": {"batches": OTHER}}},
           "transform": steps + [{op: settings}],
           "store": [{"sink": "memory", "config": {"name": sink}}]}
    return job_from_mapping(yaml.safe_load(yaml.safe_dump(doc)))  # through YAML and back


@pytest.mark.parametrize("op", sorted(CASES))
def test_each_operator_from_yaml_equals_the_stream_api(op, sink_name):
    settings, build, data = CASES[op]
    _yaml_job(op, settings, data, sink_name + "-yaml").build(clock="manual").run(batches=6)
    ctx = StreamingContext(1.0, clock="manual", parallelism=2)
    as_read = yaml.safe_load(yaml.safe_dump([data, OTHER]))  # pairs come back as lists
    build(ctx.queue_stream(as_read[0]), ctx.queue_stream(as_read[1])).sink(
        "memory", name=sink_name)
    ctx.run(batches=6)
    got, want = MemorySink.batches(sink_name + "-yaml"), MemorySink.batches(sink_name)
    MemorySink.clear(sink_name + "-yaml")
    assert got == want
    assert any(want.values()), "the case must produce output to compare"


def test_every_dstream_operator_has_a_yaml_step():
    dstream = {"map", "flat_map", "filter", "map_partitions", "key_by", "map_values",
               "flat_map_values", "union", "transform", "transform_with", "count", "reduce",
               "repartition", "reduce_by_key", "group_by_key", "count_by_value", "cogroup",
               "join", "left_outer_join", "right_outer_join", "full_outer_join", "window",
               "reduce_by_key_and_window", "count_by_value_and_window", "count_by_window",
               "group_by_key_and_window", "reduce_by_window", "update_state_by_key",
               "map_with_state", "with_event_time", "tumbling_window", "sliding_window",
               "session_window"}
    assert dstream <= set(OPERATORS)
    for op in dstream:
        assert hasattr(Stream, op) or op.endswith("_window"), op


def _reference_state(name: str, values: list[list[Any]]) -> list[Any]:
    state = None
    for new in values:
        if name == "sum":
            state = (state or 0) + sum(new)
        elif name == "count":
            state = (state or 0) + len(new)
        elif name == "latest":
            state = new[-1] if new else state
        elif name == "set":
            state = list(dict.fromkeys((state or []) + new))
        else:
            state = sorted((state or []) + new, reverse=True)[:3]
    return state


@pytest.mark.parametrize("name", sorted(STATE_FUNCTIONS))
def test_named_state_functions_against_a_fold(name):
    fn = STATE_FUNCTIONS[name](3) if name == "top_n" else STATE_FUNCTIONS[name]()
    runs = [[rng.randint(0, 9) for _ in range(rng.randint(0, 4))] for _ in range(8)]
    state = None
    for i, new in enumerate(runs):
        state = fn(new, state)
        assert state == _reference_state(name, runs[:i + 1])


def test_top_n_by_field_keeps_whole_records():
    fn = STATE_FUNCTIONS["top_n"](2, "score")
    state = fn([{"id": 1, "score": 5}, {"id": 2, "score": 9}], None)
    state = fn([{"id": 3, "score": 7}], state)
    assert [r["id"] for r in state] == [2, 3]


MULTI = """
name: multi
sources:
  clicks: {type: queue, config: {batches: %(clicks)s}}
  users: {type: queue, config: {batches: %(users)s}}
streams:
  names:
    from: users
    transform:
      - pair: {key: id, value: name}
  per_user:
    from: clicks
    transform:
      - pair: {key: user, value: n}
      - update_state_by_key: {function: sum, initial: {u9: 100}}
    store:
      - sink: memory
        config: {name: %(sink)s-state}
from: clicks
transform:
  - pair: {key: user, value: url}
  - left_outer_join: names
store:
  - sink: memory
    config: {name: %(sink)s-main}
"""


def test_several_sources_named_streams_and_their_sinks(tmp_path, sink_name):
    clicks = [[{"user": "u1", "url": "/a", "n": 1}, {"user": "u2", "url": "/b", "n": 2}],
              [{"user": "u1", "url": "/c", "n": 3}]]
    users = [[{"id": "u1", "name": "Ann"}], [{"id": "u2", "name": "Bob"}]]
    path = tmp_path / "job.yaml"
    path.write_text(MULTI % {"clicks": clicks, "users": users, "sink": sink_name})
    load_yaml_job(path).build(clock="manual").run(batches=2)
    main = MemorySink.batches(f"{sink_name}-main")
    state = MemorySink.batches(f"{sink_name}-state")
    MemorySink.clear(f"{sink_name}-main")
    MemorySink.clear(f"{sink_name}-state")
    assert sorted(main[0]) == [("u1", ("/a", "Ann")), ("u2", ("/b", None))]
    assert main[1] == [("u1", ("/c", None))]  # a stream join: Ann arrived in batch 0 only
    assert {b: dict(r) for b, r in state.items()} == {
        0: {"u9": 100, "u1": 1, "u2": 2}, 1: {"u9": 100, "u1": 4, "u2": 2}}


def _multi(**changes: Any) -> dict[str, Any]:
    doc = yaml.safe_load(MULTI % {"clicks": [[]], "users": [[]], "sink": "x"})
    for path, value in changes.items():
        node = doc
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if value is KeyError:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return doc


@pytest.mark.parametrize("changes,key,expected", [
    ({"transform/1": {"left_outer_join": "nmes"}}, "transform[1].left_outer_join.stream",
     "one of: clicks, users, names, per_user"),
    ({"from": KeyError}, "from", "the source or stream the main pipeline"),
    ({"streams/names/from": "per_user", "streams/per_user/from": "names"},
     "streams.", "cycle"),
    ({"streams/per_user/transform/1": {"update_state_by_key": {"function": "top_n"}}},
     "streams.per_user.transform[1].update_state_by_key.n", "a positive integer"),
    ({"streams/per_user/transform/1": {"update_state_by_key": "median"}},
     "streams.per_user.transform[1].update_state_by_key.function", "one of sum, count"),
    ({"transform/1": {"right_outer_join": {"data": {"u1": 1}}}},
     "transform[1].right_outer_join.stream", "needs a stream"),
    ({"transform/1": {"join": {"stream": "names", "data": {"u1": 1}}}},
     "transform[1].join", "exactly one of stream"),
    ({"transform/1": {"tumbling_window": {"size": "1s"}}},
     "transform[1].tumbling_window", "with_event_time"),
    ({"streams/names/colour": "red"}, "streams.names.colour", "one of the known keys"),
    ({"sources/users": {"type": "queue", "config": {"batchez": []}}},
     "sources.users.config.batchez", "one of the known keys"),
])
def test_mistakes_name_their_key(changes, key, expected):
    with pytest.raises(ConfigError) as err:
        job_from_mapping(_multi(**changes)).build(clock="manual")
    assert key in str(err.value) and expected in str(err.value)


# -- the JSON Schema ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = job_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_the_examples_and_the_operator_cases(validator):
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files
    for f in files:
        assert not list(validator.iter_errors(yaml.safe_load(f.read_text()))), f
    assert not list(validator.iter_errors(_multi()))
    for op, (settings, _, data) in CASES.items():
        doc = {"name": "x", "sources": {"main": {"type": "queue", "config": {"batches": data}}},
               "from": "main", "transform": [{op: settings}],
               "store": [{"sink": "memory", "config": {"name": "x"}}]}
        assert not list(validator.iter_errors(doc)), op


@pytest.mark.parametrize("path,value", [
    ("colour", "red"),                                        # unknown top-level key
    ("transform/1", {"left_outer_joins": "names"}),           # unknown operator
    ("transform/1", {"reduce_by_window": {"length": "soon"}}),  # not a duration
    ("streams/per_user/transform/1", {"update_state_by_key": {"function": "sum", "n": "x"}}),
    ("sources/users", {"type": "queue", "config": {"batchez": []}}),  # a plugin's settings
    ("store/0", {"sink": "memory", "config": {"name": 3}}),
    ("streams/names/from", KeyError),                         # a stream needs from
])
def test_schema_refuses_what_the_parser_refuses(validator, path, value):
    doc = _multi(**{path: value})
    assert list(validator.iter_errors(doc)), path
    with pytest.raises(ConfigError):
        job_from_mapping(copy.deepcopy(doc)).build(clock="manual")


def test_schema_lists_every_operator_and_step():
    text = yaml.safe_dump(job_schema())
    for op in OPERATORS:
        assert f"{op}:" in text, op
    assert textwrap.dedent("""\
        - required:
          - source""") in text
