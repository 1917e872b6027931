"""YAML jobs: same output as the Python job; every mistake names its key path."""

import sqlite3
import textwrap
from pathlib import Path

import pytest

from etlcore.cli.loader import load_target
from etlcore.clock import ManualClock
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError
from etlcore.job import Job, JobFileError, cast, load_yaml_job, parse_json, require
from etlcore.job.demo import demo_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path, text):
    path = tmp_path / "job.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def rows(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT window_end, tag, count FROM hashtag_counts "
                            "ORDER BY window_end, tag").fetchall()


def test_yaml_job_equals_the_python_job(tmp_path, sink_name):
    batches = [['{"id": "1", "text": "#a #b"}', "{bad"], ['{"id": 2, "text": "#a"}', '{"id": 3}']]
    path = write(tmp_path, f"""
        name: same
        source: {{type: queue, config: {{batches: {batches!r}}}}}
        cleanse:
          - parse_json:
          - require: [id, text]
          - cast: {{id: int}}
        transform:
          - extract_hashtags: {{field: text}}
          - count_by_value_and_window: {{length: 2s, slide: 1s}}
          - sort: {{by: 0}}
        store:
          - sink: memory
            config: {{name: {sink_name}-yaml}}
    """)
    yaml_ctx = load_yaml_job(path).build(clock="manual")
    yaml_ctx.run(batches=2)
    py_ctx = Job(
        "same", source=("queue", {"batches": batches}),
        cleanse=[parse_json(), require(["id", "text"]), cast({"id": int})],
        transform=[{"extract_hashtags": {"field": "text"}},
                   {"count_by_value_and_window": {"length": "2s", "slide": "1s"}},
                   {"sort": {"by": 0}}],
        store=[("memory", {"name": sink_name})],
    ).build(clock="manual")
    py_ctx.run(batches=2)
    assert MemorySink.batches(f"{sink_name}-yaml") == MemorySink.batches(sink_name) == {
        0: [("#a", 1), ("#b", 1)], 1: [("#a", 2), ("#b", 1)]}
    assert yaml_ctx.dead_letters == py_ctx.dead_letters
    MemorySink.clear(f"{sink_name}-yaml")


def test_example_yaml_the_demo_and_the_stream_api_example_agree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo_job("demo").build(clock="manual").run(batches=6)
    load_yaml_job(EXAMPLES / "hashtags.yaml").build(clock="manual").run(batches=6)
    ctx = load_target(EXAMPLES / "hashtags_window.py")
    ctx.clock = ManualClock()
    ctx.run(batches=6)
    demo = rows("demo/demo.db")
    assert len(demo) > 50
    assert rows("etlcore-examples/hashtags/hashtags.db") == demo
    assert rows("etlcore-examples/hashtags_window/hashtags.db") == demo


BASE = """
name: t
source: {type: generator, config: {kind: tweets}}
store: [{sink: console}]
"""


@pytest.mark.parametrize(("extra", "key"), [
    ("sourse: {}", "sourse"),
    ("transform:\n  - extract_hashtags: {field: text}\n  - pair: {key: user}\n"
     "  - count_by_value_and_window: {length: soon}", "transform[2].count_by_value_and_window.length"),
    ("cleanse: [{cast: {n: integer}}]", "cleanse[0].cast.n"),
    ("dead_letter: {sink: files, config: {}}", "dead_letter.config.path"),
    ("dead_letter: {sink: files, config: {path: x}, extra: 1}", "dead_letter.extra"),
    ("batch_interval: fast", "batch_interval"),
    ("parallelism: two", "parallelism"),
])
def test_config_errors_name_the_key_path(tmp_path, extra, key):
    path = write(tmp_path, BASE + extra + "\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_job(path).build()
    assert err.value.key == key


@pytest.mark.parametrize(("text", "key"), [
    ("name: t\nsource: {type: generator, config: {kind: tweets, rate: -1}}\nstore: [{sink: console}]",
     "source.config.rate"),
    ("name: t\nsource: {type: generatr}\nstore: [{sink: console}]", "source.type"),
    ("name: t\nsource: {type: queue}\nstore: [{sink: sqlite, config: {path: x.db, table: t}}]",
     "store[0].config.key"),
    ("name: t\nsource: {type: queue}\nstore: [{sink: console}, {snk: memory}]", "store[1].snk"),
    ("name: t\nsource: {type: queue}\nstore: []", "store"),
    ("source: {type: queue}\nstore: [{sink: console}]", "name"),
])
def test_plugin_config_errors_name_the_key_path_before_any_batch(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_yaml_job(write(tmp_path, text)).build()
    assert err.value.key == key


def test_unknown_top_level_key_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_yaml_job(write(tmp_path, BASE + "checkpiont: x\n"))
    assert "checkpiont" in str(err.value)
    assert "checkpoint" in str(err.value) and "transform" in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(JobFileError) as err:
        load_yaml_job(write(tmp_path, "name: t\nsource: {type: queue\n"))
    assert str(err.value).startswith(f"{tmp_path / 'job.yaml'}:")
    assert "invalid YAML" in str(err.value)


def test_missing_or_non_mapping_file(tmp_path):
    with pytest.raises(JobFileError, match="no such job file"):
        load_yaml_job(tmp_path / "nope.yaml")
    with pytest.raises(JobFileError, match="expected a mapping"):
        load_yaml_job(write(tmp_path, "- a\n- b\n"))
