"""The registry of sources and sinks, filled lazily from plugins.

Nothing loads on ``import etlcore``; the first lookup loads the plugins
(:mod:`etlcore.plugin.loading`) and calls their registration hooks, which
register connectors as ``"module:Class"`` strings (:mod:`etlcore.plugin.lazy`).
A connector module is imported when a job first asks for it, so a job never
imports the client libraries of connectors it does not use.

Failures stay with the plugin that has them: a plugin that fails to load or
to register, or a name two plugins register, is an error only for the jobs
that ask for one of its names, and the error names the plugin, its package and
the reason (:meth:`Registry.get`).
"""

from __future__ import annotations

import difflib
import inspect
import threading
import traceback
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from pathlib import PurePath
from typing import Any

import pluggy

from etlcore.config import describe_schema, parse_config
from etlcore.errors import (
    ConfigError,
    EtlcoreError,
    PluginBlockedError,
    PluginBrokenError,
    PluginConflictError,
    PluginNotFoundError,
)
from etlcore.plugin import hookspecs, loading
from etlcore.plugin.lazy import LazyRef, is_ref
from etlcore.plugin.loading import PluginInfo, PluginManager, hook_problems, register_checked

REGISTER_HOOKS = ("etlcore_register_sources", "etlcore_register_sinks")


@dataclass(frozen=True)
class PluginEntry:
    """One registered source or sink; its classes are imported on first use."""

    kind: str  # "source" or "sink"
    name: str
    factory_ref: LazyRef  # callable(config) -> Source | Sink
    config_ref: LazyRef  # the config dataclass
    description: str
    package: str
    version: str
    plugin: str = ""  # name of the plugin (entry point) that registered it
    _checked: list[bool] = field(default_factory=list, repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"plugin '{self.plugin}' (package {self.package} {self.version})".replace(" )", ")")

    @property
    def factory(self) -> Any:
        return self.resolve().factory_ref.get()

    @property
    def config_schema(self) -> type:
        return self.resolve().config_ref.get()

    def resolve(self) -> PluginEntry:
        """Import the connector and its config class now; PluginBrokenError if that fails."""
        if self._checked:
            return self
        for what, ref in (("connector", self.factory_ref), ("config class", self.config_ref)):
            try:
                value = ref.get()
            except Exception as err:  # noqa: BLE001 - any failure of the plugin's import
                why = str(err) if isinstance(err, EtlcoreError) else (
                    f"importing {what} {ref} failed: {type(err).__name__}: {err}")
                raise self._broken(why) from err
        if not (isinstance(value, type) and is_dataclass(value)):
            raise self._broken(f"config class {self.config_ref} is not a dataclass")
        self._checked.append(True)
        return self

    def _broken(self, why: str) -> PluginBrokenError:
        return PluginBrokenError(self.kind, self.name, f"{self.kind} '{self.name}' from "
                                 f"{self.label} cannot be used: {why}", [self.plugin])

    def build(self, config: Mapping[str, Any] | None, where: str = "") -> Any:
        parsed = parse_config(self.config_schema, config or {}, where)
        return self.factory(parsed)

    def describe(self) -> dict[str, Any]:
        """Name, package, settings; imports the config class only, never the connector."""
        row = {"name": self.name, "kind": self.kind, "package": self.package,
               "version": self.version, "plugin": self.plugin, "description": self.description,
               "status": "ok", "reason": "", "config": []}
        try:
            schema = self.config_ref.get()
            row["config"] = describe_schema(schema)
        except Exception as err:  # noqa: BLE001 - shown as this entry's state, not raised
            why = str(err) if isinstance(err, EtlcoreError) else f"{type(err).__name__}: {err}"
            row.update(status="broken", reason=f"importing config class {self.config_ref} "
                                                 f"failed: {why}")
        return row


def _config_of(factory_ref: LazyRef) -> type:
    """The config class a connector declares: the annotation of its first parameter."""
    factory = factory_ref.get()
    params = list(inspect.signature(factory).parameters)
    target = factory.__init__ if isinstance(factory, type) else factory
    hint = typing.get_type_hints(target).get(params[0]) if params else None
    if not isinstance(hint, type):
        raise TypeError(f"{factory_ref} does not annotate its config parameter with a "
                        "dataclass; register it with config_cls")
    return hint


class Registrar:
    """Handed to registration hooks; plugins call ``source`` and ``sink`` on it.

    ``cls`` and ``config_cls`` may be classes or ``"module:Class"`` strings;
    strings are imported on first use. Without ``config_cls`` the config class
    is the annotation of the connector's ``config`` parameter (found by
    importing the connector, so ``etlcore plugins`` then imports it too).
    """

    def __init__(self, registry: Registry, info: PluginInfo | None = None):
        self._registry = registry
        self.info = info or PluginInfo("etlcore.connectors", "etlcore", _etlcore_version())
        self.package = self.info.package
        self.version = self.info.version
        self.staged: list[PluginEntry] = []

    def source(self, name: str, cls: Any, config_cls: Any = None, description: str = "") -> None:
        self._stage("source", name, cls, config_cls, description)

    def sink(self, name: str, cls: Any, config_cls: Any = None, description: str = "") -> None:
        self._stage("sink", name, cls, config_cls, description)

    def _stage(self, kind: str, name: str, cls: Any, config_cls: Any, description: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {kind} name must be a non-empty string, got {name!r}")
        if not (is_ref(cls) or (callable(cls) and not isinstance(cls, str))):
            raise TypeError(f"{kind} '{name}': cls must be a class or a 'module:Class' string, "
                            f"got {cls!r}")
        if not (config_cls is None or is_ref(config_cls) or isinstance(config_cls, type)):
            raise TypeError(f"{kind} '{name}': config_cls must be a dataclass type or a "
                            f"'module:Class' string, got {config_cls!r}")
        factory = LazyRef(cls)
        config = (LazyRef(config_cls) if config_cls is not None
                  else LazyRef(f"{factory} config", lambda: _config_of(factory)))
        self.staged.append(PluginEntry(kind, name, factory, config, description,
                                       self.package, self.version, self.info.name))


def _where(err: BaseException) -> str:
    """`` (at pkg/module.py:12)``: the last frame outside importlib, to find the line."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith("<")]
    if not frames:
        return ""
    return f" (at {'/'.join(PurePath(frames[-1].filename).parts[-2:])}:{frames[-1].lineno})"


class Registry:
    """Sources and sinks by name, from every plugin that loaded and registered cleanly."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.infos: dict[str, PluginInfo] = dict(getattr(pm, "infos", {}))
        self.entries: dict[tuple[str, str], PluginEntry] = {}
        self.conflicts: dict[tuple[str, str], list[PluginEntry]] = {}
        self._adopt_unrecorded()
        for info in list(self.infos.values()):
            if info.state == "ok":
                self._register(info)

    def _adopt_unrecorded(self) -> None:
        """Record plugins put into ``pm`` directly (``pm.register``), checking their hooks."""
        known = {id(info.plugin) for info in self.infos.values()}
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None or id(plugin) in known:
                continue
            dist = dists.get(id(plugin))
            info = PluginInfo(name, dist.project_name if dist else _package_of(plugin),
                              dist.version if dist else _etlcore_version(), plugin=plugin)
            problems = hook_problems(self.pm, plugin)
            if problems:
                self.pm.unregister(plugin)
                info.fail("; ".join(problems), f"fix the hooks of {info.package}")
            self.infos[name] = info

    def _register(self, info: PluginInfo) -> None:
        """Call one plugin's registration hooks; if one raises, the plugin is broken."""
        registrar = Registrar(self, info)
        for hook in REGISTER_HOOKS:
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin is not info.plugin:
                    continue
                try:
                    impl.function(**{arg: registrar for arg in impl.argnames})
                except Exception as err:  # noqa: BLE001 - any failure of third-party code
                    info.registered |= {(e.kind, e.name) for e in registrar.staged}
                    info.fail(f"{hook} raised {type(err).__name__}: {err}{_where(err)}")
                    self.pm.unregister(info.plugin)  # nor run its lifecycle hooks
                    return
        for entry in registrar.staged:
            key = (entry.kind, entry.name)
            if key in self.conflicts:
                self.conflicts[key].append(entry)
            elif key in self.entries:
                self.conflicts[key] = [self.entries.pop(key), entry]
            else:
                self.entries[key] = entry

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.entries if k == kind)

    def plugins(self) -> list[PluginInfo]:
        """Every plugin found, loaded or not."""
        return list(self.infos.values())

    def get(self, kind: str, name: str) -> PluginEntry:
        """The entry for ``name``, its classes imported; else an error saying why not."""
        if not isinstance(name, str) or not name:
            raise ConfigError(kind, f"the name of a {kind} plugin", name)
        entry = self.entries.get((kind, name))
        if entry is None:
            raise self._unavailable(kind, name)
        return entry.resolve()

    def _clash(self, kind: str, name: str) -> list[PluginEntry]:
        """The entries two or more plugins registered under one name; built-ins first."""
        return sorted(self.conflicts.get((kind, name), ()),
                      key=lambda e: (e.package != "etlcore", e.package, e.plugin))

    def _unavailable(self, kind: str, name: str) -> PluginNotFoundError:
        clash = self._clash(kind, name)
        if clash:
            labels = " and ".join(e.label for e in clash)
            block = clash[-1].plugin  # never the built-ins, which sort first
            return PluginConflictError(
                kind, name, f"{kind} '{name}' is registered by {len(clash)} plugins: {labels}; "
                f"uninstall one, or block one with ETLCORE_BLOCK_PLUGINS={block}",
                [e.plugin for e in clash])
        for info in self.infos.values():
            if info.state != "ok" and info.might_provide(kind, name):
                cls = PluginBrokenError if info.state == "broken" else PluginBlockedError
                state = f"is broken: {info.reason}" if info.state == "broken" else f"is {info.reason}"
                return cls(kind, name, f"{kind} '{name}' is provided by {info.label}, which "
                           f"{state}; {info.fix}", [info.name])
        for info in self.infos.values():
            if (kind, name) in info.provides:
                return PluginBrokenError(
                    kind, name, f"{kind} '{name}' is declared by {info.label} (entry point group "
                    f"{loading.PROVIDES_GROUP}) but its hooks did not register it; fix "
                    f"{info.package}", [info.name])
        return PluginNotFoundError(kind, name, self.names(kind), note=self._not_found_note(kind, name))

    def _not_found_note(self, kind: str, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(kind), n=1)
        note = f" Did you mean '{close[0]}'?" if close else ""
        down = [f"'{i.name}' ({i.state})" for i in self.infos.values() if i.state != "ok"]
        if down:
            note += f" Plugins not loaded: {', '.join(down)}."
        return note + " `etlcore plugins` lists what is installed."

    def describe(self) -> list[dict[str, Any]]:
        """One row per source and sink (with ``status``), then one per plugin not loaded."""
        rows = []
        named = [(key, [e]) for key, e in self.entries.items()]
        named += [(key, self._clash(*key)) for key in self.conflicts]
        for key, entries in sorted(named, key=lambda item: item[0]):
            for entry in entries:
                row = entry.describe()
                if len(entries) > 1:
                    row.update(status="conflict", reason=str(self._unavailable(*key)))
                rows.append(row)
        rows += [i.describe() for i in self.infos.values() if i.state != "ok"]
        return rows


def _package_of(plugin: Any) -> str:
    module = getattr(plugin, "__name__", type(plugin).__module__)
    return "etlcore" if module.startswith("etlcore.") or module == "etlcore" else module


def _etlcore_version() -> str:
    from etlcore._version import __version__

    return __version__


def make_plugin_manager(load_entry_points: bool = True) -> PluginManager:
    """A plugin manager with the hook specs, the built-ins and (optionally) entry points.

    Never raises for a plugin's fault: failures are in ``pm.infos``.
    """
    from etlcore import connectors

    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    info = PluginInfo("etlcore.connectors", "etlcore", _etlcore_version(), plugin=connectors)
    pm.infos[info.name] = register_checked(pm, connectors, info)
    if load_entry_points:
        loading.load_entry_points(pm)
    return pm


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry(make_plugin_manager())
        return _registry


def reset_registry() -> None:
    """Forget loaded plugins (tests that install or block plugins call this)."""
    global _registry
    with _lock:
        _registry = None
