"""The generator source: deterministic by offset, paced by the clock, malformed on request."""

from __future__ import annotations

import json

import pytest

from etlcore import ConfigError, StreamingContext
from etlcore.clock import ManualClock
from etlcore.connectors.generator import GeneratorReader, GeneratorSource, GeneratorSourceConfig
from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import get_registry
from etlcore.source import SourceContext

from .protocol import PICKLERS, open_reader, read

FIELDS = {
    "tweets": {"id": int, "user": str, "text": str, "lang": str, "created_at": float,
               "retweets": int},
    "clicks": {"user_id": str, "url": str, "event": str, "ts": float},
    "sensors": {"sensor_id": str, "ts": float, "temperature": float, "humidity": float},
}


def build(**config) -> GeneratorSource:
    source = get_registry().get("source", "generator").build(config)
    source.open(SourceContext("generator-1", ManualClock()))
    return source


def records(p: str, start: int, end: int, **config) -> list:
    """A range read through the reader of a freshly opened source."""
    return read(build(**config), p, start, end)


def valid(kind: str, record) -> bool:
    return isinstance(record, dict) and record.keys() == FIELDS[kind].keys() and all(
        isinstance(record[k], t) and not isinstance(record[k], bool)
        for k, t in FIELDS[kind].items()
    )


def test_end_to_end_with_the_manual_clock(sink_name):
    ctx = StreamingContext(1.0, clock="manual")
    ctx.source("generator", kind="tweets", rate=100, limit=250).map(lambda r: r["id"]).sink(
        "memory", name=sink_name)
    ctx.run(until_idle=True)
    batches = MemorySink.batches(sink_name)
    assert [len(b) for b in batches.values()] == [100, 100, 50]
    assert MemorySink.results(sink_name) == list(range(250))


def test_rate_is_split_over_partitions_and_event_times_follow_the_clock(sink_name):
    ctx = StreamingContext(0.5, clock="manual")
    ctx.source("generator", kind="sensors", rate=200, partitions=4, limit=100).sink(
        "memory", name=sink_name)
    ctx.run(until_idle=True)
    batches = MemorySink.batches(sink_name)
    assert [len(b) for b in batches.values()] == [100, 100, 100, 100]
    for batch_id, records in batches.items():
        batch_time = 0.5 * (batch_id + 1)
        assert all(batch_time - 0.5 <= r["ts"] < batch_time for r in records)
    assert len({r["sensor_id"] for r in MemorySink.results(sink_name)}) == 64


@pytest.mark.parametrize("kind", ["tweets", "clicks", "sensors"])
def test_records_are_a_pure_function_of_seed_partition_and_offset(kind):
    a = open_reader(build(kind=kind, partitions=3))
    for p in ("0", "2"):
        whole = a.read(p, 0, 30)
        assert records(p, 0, 30, kind=kind, partitions=3) == whole
        assert a.read(p, 10, 20) == whole[10:20]
        assert all(valid(kind, r) for r in whole)
    assert a.read("0", 0, 30) != a.read("1", 0, 30)
    assert records("0", 0, 30, kind=kind, seed=7) != records("0", 0, 30, kind=kind)


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_reader_is_its_config_and_regenerates_on_a_worker(how):
    source = build(kind="tweets", partitions=2, format="json", bad_ratio=0.1, start_time=5.0)
    original, shipped = open_reader(source), open_reader(source, how=how)
    assert isinstance(shipped, GeneratorReader) and shipped == original
    assert shipped.read("1", 40, 90) == original.read("1", 40, 90)


def test_the_start_time_is_fixed_on_the_driver_before_the_reader_ships(tmp_path):
    source = get_registry().get("source", "generator").build({"kind": "sensors"})
    with pytest.raises(RuntimeError, match="before open"):
        source.reader()
    clock = ManualClock()
    clock.advance(100.0)
    source.open(SourceContext("generator-1", clock, tmp_path))
    again = get_registry().get("source", "generator").build({"kind": "sensors"})
    clock.advance(50.0)
    again.open(SourceContext("generator-1", clock, tmp_path))  # a restart: same start time
    assert source.reader().start_time == again.reader().start_time == clock.now() - 50.0
    assert read(again, "0", 0, 5) == read(source, "0", 0, 5)


def test_bad_ratio_marks_a_deterministic_share_of_records():
    good = records("0", 0, 2000, kind="clicks")
    assert all(valid("clicks", r) for r in good)
    dicts = records("0", 0, 2000, kind="clicks", bad_ratio=0.1)
    bad = [i for i, r in enumerate(dicts) if not valid("clicks", r)]
    assert 140 <= len(bad) <= 260
    assert records("0", 0, 2000, kind="clicks", bad_ratio=0.1) == dicts

    texts = records("0", 0, 2000, kind="clicks", bad_ratio=0.1, format="json")
    broken = []
    for i, text in enumerate(texts):
        try:
            assert valid("clicks", json.loads(text))
        except ValueError:
            broken.append(i)
    assert broken == bad  # the same records are chosen, whatever the format


def test_malformed_records_reach_the_dead_letters(sink_name):
    ctx = StreamingContext(1.0, clock="manual")
    records = ctx.source("generator", kind="tweets", rate=500, limit=500, format="json",
                         bad_ratio=0.2)
    records.map(json.loads, on_error="dead_letter").sink("memory", name=sink_name)
    ctx.run(until_idle=True)
    assert len(MemorySink.results(sink_name)) + len(ctx.dead_letters) == 500
    assert 50 <= len(ctx.dead_letters) <= 150


def test_a_restart_continues_with_identical_records(tmp_path, sink_name):
    def job(name: str) -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path / name, clock="manual", name="gen")
        ctx.source("generator", kind="clicks", rate=50, partitions=2, limit=120).sink(
            "memory", name=sink_name + name)
        return ctx

    job("a").run(batches=2)
    job("a").run(until_idle=True)
    job("b").run(until_idle=True)  # the same job, uninterrupted
    interrupted, straight = MemorySink.batches(sink_name + "a"), MemorySink.batches(sink_name + "b")
    assert interrupted == straight
    assert sum(len(b) for b in straight.values()) == 240


def test_limit_exhausts_and_max_records_leaves_a_backlog():
    source = build(kind="sensors", rate=100, limit=150)
    clock = source.ctx.clock
    clock.advance(1.0)
    assert source.plan("0", 0, 30) == 30  # 100 generated, 30 taken
    clock.advance(1.0)
    assert source.plan("0", 30, None) == 150  # the backlog, up to the limit
    assert source.exhausted()


@pytest.mark.parametrize(("config", "key"), [
    ({"kind": "tweets", "rate": 0}, "rate"),
    ({"kind": "tweets", "partitions": 0}, "partitions"),
    ({"kind": "tweets", "bad_ratio": 1.5}, "bad_ratio"),
    ({"kind": "logs"}, "kind"),
    ({}, "kind"),
])
def test_config_errors_name_the_key(config, key):
    with pytest.raises(ConfigError) as err:
        get_registry().get("source", "generator").build(config, where="source 'g'")
    assert err.value.key == f"source 'g'.{key}"


def test_config_schema_is_documented():
    fields = GeneratorSourceConfig.__dataclass_fields__.values()
    assert all(f.metadata.get("help") for f in fields)
