"""etlcore-log as installed: entry point, registry entry, and the sink at work.

These tests install nothing; run ``pip install -e plugins/log`` first.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, distribution, entry_points

import pytest

from etlcore import ConfigError, StreamingContext
from etlcore.plugin.registry import get_registry, reset_registry

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


def test_batches_are_logged_at_commit(caplog):
    ctx = StreamingContext(1.0, clock="manual")
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
