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


def test_missing_plugin_names_installed_ones_and_where_to_look():
    """No made-up package: what is not installed has no metadata to take a hint from."""
    with pytest.raises(PluginNotFoundError) as err:
        get_registry().get("sink", "nosuchstore")
    msg = str(err.value)
    assert "no sink plugin named 'nosuchstore'" in msg
    assert "memory" in msg
    assert "`etlcore plugins` lists what is installed" in msg
    assert "pip install" not in msg


def test_registry_has_no_hard_coded_package_list():
    from etlcore.plugin import registry

    assert not hasattr(registry, "KNOWN_PACKAGES")


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


def test_misspelled_hook_breaks_only_its_plugin():
    class Typo:
        @hookspecs.hookimpl
        def etlcore_register_sinkz(self, register):
            pass

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Typo(), name="typo")
    pm.register(ExtraPlugin(), name="extra")
    reg = Registry(pm)
    assert isinstance(reg.get("sink", "nop").build({}), NopSink)
    info = {i.name: i for i in reg.plugins()}["typo"]
    assert info.state == "broken"
    assert info.reason == ("etlcore_register_sinkz is not an etlcore hook "
                           "(did you mean etlcore_register_sinks?)")
    pm.check_pending()  # the broken plugin was taken out: nothing left to fail every job


def test_class_registrations_still_work_and_are_validated():
    class Bad:
        @hookspecs.hookimpl
        def etlcore_register_sinks(self, register):
            register.sink("bad", "not a reference", NopConfig)

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Bad(), name="bad")
    reg = Registry(pm)
    assert "bad" not in reg.names("sink")
    info = {i.name: i for i in reg.plugins()}["bad"]
    assert info.reason.startswith("etlcore_register_sinks raised TypeError: sink 'bad': cls "
                                  "must be a class or a 'module:Class' string, got "
                                  "'not a reference'")


def test_every_hook_is_documented():
    names = [n for n in dir(hookspecs) if n.startswith("etlcore_")]
    assert names
    for name in names:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 40, f"hook {name} needs a docstring"
