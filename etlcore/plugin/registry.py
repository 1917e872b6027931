"""The registry of sources and sinks, filled lazily from plugins.

Entry points are loaded on first use, not on ``import etlcore``. Two
environment variables narrow what loads: ``ETLCORE_PLUGINS`` (comma-separated
entry-point names to allow; empty string loads none) and
``ETLCORE_BLOCK_PLUGINS`` (names to block).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from etlcore.config import describe_schema, parse_config
from etlcore.errors import ConfigError, EtlcoreError, PluginNotFoundError
from etlcore.plugin import hookspecs

# Names users may ask for before installing the package that provides them.
KNOWN_PACKAGES = {
    "kafka": "etlcore-kafka",
    "kinesis": "etlcore-kinesis",
    "flume": "etlcore-flume",
    "s3": "etlcore-s3",
    "s3_directory": "etlcore-s3",
    "hdfs": "etlcore-hdfs",
    "hdfs_directory": "etlcore-hdfs",
    "twitter": "etlcore-twitter",
    "cassandra": "etlcore-cassandra",
    "hbase": "etlcore-hbase",
    "mongodb": "etlcore-mongodb",
    "dashboard": "etlcore-dashboard",
}


@dataclass(frozen=True)
class PluginEntry:
    """One registered source or sink."""

    kind: str  # "source" or "sink"
    name: str
    factory: Any  # callable(config) -> Source | Sink
    config_schema: type
    description: str
    package: str
    version: str

    def build(self, config: Mapping[str, Any] | None, where: str = "") -> Any:
        parsed = parse_config(self.config_schema, config or {}, where)
        return self.factory(parsed)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "package": self.package,
            "version": self.version,
            "description": self.description,
            "config": describe_schema(self.config_schema),
        }


class Registrar:
    """Handed to registration hooks; plugins call ``source`` and ``sink`` on it."""

    def __init__(self, registry: Registry):
        self._registry = registry
        self.package = "etlcore"
        self.version = ""

    def source(self, name: str, cls: Any, config_cls: type, description: str = "") -> None:
        self._registry._add("source", name, cls, config_cls, description, self)

    def sink(self, name: str, cls: Any, config_cls: type, description: str = "") -> None:
        self._registry._add("sink", name, cls, config_cls, description, self)


class Registry:
    """Sources and sinks by name, built from every loaded plugin."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.entries: dict[tuple[str, str], PluginEntry] = {}
        registrar = Registrar(self)
        dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
        for hook in (pm.hook.etlcore_register_sources, pm.hook.etlcore_register_sinks):
            for impl in reversed(hook.get_hookimpls()):
                dist = dists.get(id(impl.plugin))
                registrar.package = dist.project_name if dist else _package_of(impl.plugin)
                registrar.version = dist.version if dist else _etlcore_version()
                impl.function(register=registrar)

    def _add(self, kind: str, name: str, cls: Any, config_cls: type, description: str,
             registrar: Registrar) -> None:
        if not isinstance(config_cls, type):
            raise TypeError(f"{kind} '{name}': config_cls must be a dataclass type")
        self.entries[(kind, name)] = PluginEntry(
            kind, name, cls, config_cls, description, registrar.package, registrar.version
        )

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.entries if k == kind)

    def get(self, kind: str, name: str) -> PluginEntry:
        if not isinstance(name, str) or not name:
            raise ConfigError(kind, f"the name of a {kind} plugin", name)
        try:
            return self.entries[(kind, name)]
        except KeyError:
            raise PluginNotFoundError(
                kind, name, self.names(kind), KNOWN_PACKAGES.get(name)
            ) from None

    def describe(self) -> list[dict[str, Any]]:
        return [e.describe() for _, e in sorted(self.entries.items())]


def _package_of(plugin: Any) -> str:
    module = getattr(plugin, "__name__", type(plugin).__module__)
    return "etlcore" if module.startswith("etlcore.") or module == "etlcore" else module


def _etlcore_version() -> str:
    from etlcore._version import __version__

    return __version__


_lock = threading.Lock()
_registry: Registry | None = None


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the built-ins and (optionally) entry points."""
    from etlcore import connectors

    pm = pluggy.PluginManager("etlcore")
    pm.add_hookspecs(hookspecs)
    pm.register(connectors, name="etlcore.connectors")
    if load_entry_points:
        allowed = _env_names("ETLCORE_PLUGINS")
        for blocked in _env_names("ETLCORE_BLOCK_PLUGINS") or ():
            pm.set_blocked(blocked)
        for ep in entry_points(group="etlcore"):
            if (allowed is not None and ep.name not in allowed) or pm.is_blocked(ep.name):
                continue
            if pm.has_plugin(ep.name):
                continue
            try:
                pm.load_setuptools_entrypoints("etlcore", name=ep.name)
            except Exception as err:  # noqa: BLE001 - any import error of a third-party plugin
                dist = ep.dist.name if ep.dist else "?"
                raise EtlcoreError(
                    f"plugin '{ep.name}' (package {dist}) failed to load: "
                    f"{type(err).__name__}: {err}. Fix or uninstall it, or skip it with "
                    f"ETLCORE_BLOCK_PLUGINS={ep.name}"
                ) from err
    pm.check_pending()
    return pm


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
