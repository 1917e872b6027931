"""The plugin registry: built-ins through the same hooks, clear errors for missing ones."""

from dataclasses import dataclass

import pytest

from etlcore.errors import PluginNotFoundError
from etlcore.plugin import hookspecs
from etlcore.plugin.registry import Registry, get_registry, make_plugin_manager
from etlcore.sink import CollectingSink


def test_builtins_register_through_hooks():
    reg = get_registry()
    assert {"queue"} <= set(reg.names("source"))
    assert {"console", "memory"} <= set(reg.names("sink"))
    entry = reg.get("sink", "memory")
    assert entry.package == "etlcore"


def test_missing_plugin_names_installed_ones_and_the_package():
    with pytest.raises(PluginNotFoundError) as err:
        get_registry().get("sink", "cassandra")
    msg = str(err.value)
    assert "no sink plugin named 'cassandra'" in msg
    assert "memory" in msg
    assert "pip install etlcore-cassandra" in msg


def test_unknown_name_without_a_known_package():
    with pytest.raises(PluginNotFoundError) as err:
        get_registry().get("sink", "carrier-pigeon")
    assert "pip install" not in str(err.value)


@dataclass
class NopConfig:
    pass


class NopSink(CollectingSink):
    def __init__(self, config: NopConfig):
        self.config = config

    def store(self, batch, records):
        pass


class ExtraPlugin:
    @hookspecs.hookimpl
    def etlcore_register_sinks(self, register):
        register.sink("nop", NopSink, NopConfig, "does nothing")


def test_an_object_plugin_registers_a_sink():
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(ExtraPlugin(), name="extra")
    reg = Registry(pm)
    sink = reg.get("sink", "nop").build({})
    assert isinstance(sink, NopSink)
    assert reg.get("sink", "nop").describe()["config"] == []


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookspecs.hookimpl
        def etlcore_register_sinkz(self, register):
            pass

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Typo(), name="typo")
    with pytest.raises(Exception, match="unknown hook"):
        pm.check_pending()


def test_every_hook_is_documented():
    names = [n for n in dir(hookspecs) if n.startswith("etlcore_")]
    assert names
    for name in names:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 40, f"hook {name} needs a docstring"
