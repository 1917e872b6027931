"""etlcore-log as installed: entry point, registry entry, and the sink at work.

These tests install nothing; run ``pip install -e plugins/log`` first.
"""

from __future__ import annotations

import logging
import pickle
from importlib.metadata import PackageNotFoundError, distribution, entry_points

import cloudpickle
import pytest

from etlcore.batch import BatchInfo
from etlcore.errors import ConfigError
from etlcore.plugin.registry import get_registry, reset_registry
from etlcore.sink import WriterContext

INSTALL_HINT = "etlcore-log is not installed: run pip install -e plugins/log"


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Load entry points anew, with no plugin filter left over from the environment."""
    monkeypatch.delenv("ETLCORE_PLUGINS", raising=False)
    monkeypatch.delenv("ETLCORE_BLOCK_PLUGINS", raising=False)
    reset_registry()
    yield
    reset_registry()


def test_the_entry_point_is_installed():
    try:
        dist = distribution("etlcore-log")
    except PackageNotFoundError:
        pytest.fail(INSTALL_HINT)
    points = {ep.name: ep.value for ep in entry_points(group="etlcore")}
    assert points.get("log") == "etlcore_log", INSTALL_HINT
    assert any(ep.name == "log" for ep in dist.entry_points if ep.group == "etlcore")


def test_the_registry_finds_the_sink_with_its_package():
    entry = get_registry().get("sink", "log")
    assert entry.package == "etlcore-log"
    assert entry.version == distribution("etlcore-log").version
    assert [c["name"] for c in entry.describe()["config"]] == ["logger", "level", "limit"]


def test_a_blocked_plugin_is_not_loaded(monkeypatch):
    monkeypatch.setenv("ETLCORE_BLOCK_PLUGINS", "log")
    reset_registry()
    assert "log" not in get_registry().names("sink")


@pytest.mark.parametrize("runner", [{}, {"runner": "processes", "workers": 2}],
                         ids=["local", "processes"])
def test_batches_are_logged_at_commit(caplog, runner):
    """Whatever runs the writers, the driver logs (where caplog sees it)."""
    from etlcore import StreamingContext

    ctx = StreamingContext(1.0, clock="manual", **runner)
    ctx.queue_stream([["a", "b", "c"], [], ["d"]]).sink("log", logger="test.log", limit=2)
    with caplog.at_level(logging.INFO, logger="test.log"):
        ctx.run(until_idle=True)
    assert [r.getMessage() for r in caplog.records if r.name == "test.log"] == [
        "batch 0: 3 records", "  'a'", "  'b'", "  ... 1 more",
        "batch 2: 1 records", "  'd'",
    ]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "log").build({"level": "LOUD"}, where="sink 'log'")
    assert err.value.key == "sink 'log'.level"
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "log").build({"limit": -1}, where="sink 'log'")
    assert err.value.key == "sink 'log'.limit"


@pytest.mark.parametrize("pickler", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_writers_ship_heads_and_the_driver_logs_at_commit(caplog, pickler):
    """Workers send counts and the first ``limit`` records; the driver logs in partition order."""
    sink = get_registry().get("sink", "log").build({"logger": "test.split", "limit": 3})
    writer = pickler.loads(pickler.dumps(sink.writer()))
    writer.open(WriterContext("log", "split-job", worker="process-1"))
    batch = BatchInfo(4, 0.0, replay=True)
    messages = [writer.write(batch, p, records)
                for p, records in enumerate([["a", "b"], [], ["c", "d", "e", "f"]])]
    assert messages == [(2, ["a", "b"]), (0, []), (4, ["c", "d", "e"])]
    assert pickle.loads(pickle.dumps(messages)) == messages
    with caplog.at_level(logging.INFO, logger="test.split"):
        sink.commit(batch, messages)
        sink.commit(BatchInfo(5, 1.0), [writer.write(batch, 0, [])])  # empty: nothing logged
    assert [r.getMessage() for r in caplog.records if r.name == "test.split"] == [
        "batch 4 (replay): 6 records", "  'a'", "  'b'", "  'c'", "  ... 3 more"]
    unlimited = get_registry().get("sink", "log").build({"limit": None}).writer()
    assert unlimited.write(batch, 0, ["x", "y"]) == (2, ["x", "y"])
