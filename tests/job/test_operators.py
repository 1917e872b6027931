"""Transform specs: the named built-ins and the Spark operators, applied by a Job."""

import pytest

from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.job import Job


def upper_text(record):
    return record["text"].upper()


def run_transform(batches, transform, sink_name, **kw):
    job = Job("t", source=("queue", {"batches": batches}), transform=transform,
              store=[("memory", {"name": sink_name})], clock="manual", **kw)
    ctx = job.build()
    ctx.run(batches=len(batches))
    return MemorySink.batches(sink_name), ctx.dead_letters


def test_hashtags_counted_over_a_sliding_window(sink_name):
    batches = [[{"text": "#a #B"}], [{"text": "#a"}], [{"text": "no tags"}], [{"text": "#b"}]]
    out, _ = run_transform(batches, [
        {"extract_hashtags": {"field": "text"}},
        {"count_by_value_and_window": {"length": "2s", "slide": "1s"}},
        {"sort": {"by": 0}},
    ], sink_name)
    assert out == {0: [("#a", 1), ("#b", 1)], 1: [("#a", 2), ("#b", 1)], 2: [("#a", 1)],
                   3: [("#b", 1)]}


def test_record_builtins(sink_name):
    batches = [[{"user": "ann", "n": 2, "text": "Hello, hello world"},
                {"user": "bob", "n": 3, "text": "x"}, {"user": "ann", "n": 5, "text": "y"}]]
    pairs, _ = run_transform(batches, [{"pair": {"key": "user", "value": "n"}},
                                       {"reduce_by_key": "sum"}, {"sort": {}}], sink_name)
    assert pairs[0] == [("ann", 7), ("bob", 3)]
    MemorySink.clear(sink_name)
    words, _ = run_transform(batches, [{"filter": {"field": "user", "op": "==", "value": "ann"}},
                                       {"split_words": "text"}, {"count_by_value": {}},
                                       {"sort": {"by": 1, "descending": True, "limit": 1}}],
                             sink_name)
    assert words[0] == [("hello", 2)]
    MemorySink.clear(sink_name)
    keyed, _ = run_transform([[{"user": "a", "n": 1}]], [{"select": ["n"]}, {"key_by": "n"},
                                                          {"group_by_key": {}}], sink_name)
    assert keyed[0] == [(1, [{"n": 1}])]


def test_function_ops_dead_letter_failing_records_with_their_stage(sink_name):
    out, dead = run_transform([[{"text": "hi"}, {"txt": "oops"}]], [
        {"map": {"function": "tests.job.test_operators:upper_text"}},
        {"count": {}},
    ], sink_name)
    assert out == {0: [1]}
    assert [(d["stage"], d["reason"]) for d in dead] == [("transform[0].map", "KeyError: 'text'")]


def test_to_dict_stamps_the_batch_time(sink_name):
    out, _ = run_transform([[("a", 1)]], [{"to_dict": {"fields": ["k", "v"], "batch_time": "t"}}],
                           sink_name)
    assert out[0] == [{"t": "1970-01-01 00:00:01", "k": "a", "v": 1}]


def test_callable_transform(sink_name):
    out, _ = run_transform([[1, 2]], lambda s: s.map(lambda x: x * 10), sink_name)
    assert out == {0: [10, 20]}


@pytest.mark.parametrize(("transform", "key"), [
    ([{"count_by_value": {}}, {"window": {"length": "ten"}}], "transform[1].window.length"),
    ([{"count_by_value_and_window": {"length": "10s", "slid": "2s"}}],
     "transform[0].count_by_value_and_window.slid"),
    ([{"reduce_by_key_and_window": {"slide": "2s"}}], "transform[0].reduce_by_key_and_window.length"),
    ([{"reduce_by_key": {"func": "product"}}], "transform[0].reduce_by_key.func"),
    ([{"map": {"function": "tests.job.test_operators:missing"}}], "transform[0].map.function"),
    ([{"map": {"function": "upper_text"}}], "transform[0].map.function"),
    ([{"filter": {"field": "x", "op": "in", "value": 3}}], "transform[0].filter.value"),
    ([{"flatten": {}}], "transform[0].flatten"),
    ([{"a": 1, "b": 2}], "transform[0]"),
])
def test_bad_specs_name_the_key_when_the_job_is_defined(transform, key):
    with pytest.raises(ConfigError) as err:
        Job("t", source="queue", transform=transform, store=["console"])
    assert err.value.key == key


def test_window_not_a_multiple_of_the_batch_interval_fails_at_build():
    job = Job("t", source="queue", store=["console"], batch_interval="2s",
              transform=[{"extract_hashtags": {}}, {"extract_hashtags": {}},
                         {"count_by_value_and_window": {"length": "10s", "slide": "3s"}}])
    with pytest.raises(ConfigError) as err:
        job.build()
    assert err.value.key == "transform[2].count_by_value_and_window.slide"
    assert "multiple of the batch interval (2s)" in str(err.value)
