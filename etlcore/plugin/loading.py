"""Finding plugins, each on its own: one that fails is recorded, never raised.

A plugin is an ``etlcore`` entry point. Each is loaded and checked apart from
the others, and a failure (import error, misspelled hook, hook function without
``@hookimpl``) becomes a :class:`PluginInfo` with state ``broken`` and a reason,
so a broken package only stops the jobs that use what it provides. The
registry turns those records into errors when such a name is asked for, and
``etlcore plugins`` lists them.

Two environment variables narrow what loads: ``ETLCORE_PLUGINS``
(comma-separated entry-point names to allow; empty string loads none) and
``ETLCORE_BLOCK_PLUGINS`` (names to block). A plugin they keep out is recorded
as ``blocked``, naming the variable, so asking for its names says so.

Which names a package provides can be declared in its metadata, readable
without importing it (so for blocked and broken plugins too)::

    [project.entry-points."etlcore.provides"]
    "sink.jsonl" = "etlcore_jsonl.sink:JsonlSink"

Without that, a plugin is assumed to provide the names it registered before
failing, and a name equal to its entry-point name.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib.metadata import Distribution, EntryPoint, entry_points
from typing import Any

import pluggy

from etlcore.plugin import hookspecs

GROUP = "etlcore"
PROVIDES_GROUP = "etlcore.provides"
KINDS = ("source", "sink")
HOOK_NAMES = tuple(sorted(n for n in vars(hookspecs) if n.startswith("etlcore_")))


@dataclass
class PluginInfo:
    """One plugin: where it comes from, whether it loaded, and why not."""

    name: str  # entry-point name (or the name given to pm.register)
    package: str
    version: str
    state: str = "ok"  # "ok", "broken" or "blocked"
    reason: str = ""  # why broken or blocked
    fix: str = ""  # what to do about it
    provides: set[tuple[str, str]] = field(default_factory=set)  # declared (kind, name)
    registered: set[tuple[str, str]] = field(default_factory=set)  # before it failed
    plugin: Any = None  # the loaded module or object

    @property
    def label(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"plugin '{self.name}' (package {self.package}{version})"

    def fail(self, reason: str, fix: str = "") -> PluginInfo:
        self.state, self.reason = "broken", reason
        self.fix = fix or f"fix, reinstall or uninstall {self.package}"
        return self

    def might_provide(self, kind: str, name: str) -> bool:
        """Declared names if any, else its entry-point name; plus what it registered."""
        if (kind, name) in self.registered:
            return True
        if self.provides:
            return (kind, name) in self.provides
        return name == self.name

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "plugin", "package": self.package,
                "version": self.version, "status": self.state, "reason": self.reason,
                "fix": self.fix, "provides": [f"{k} {n}" for k, n in sorted(self.provides | self.registered)],
                "description": "", "config": []}


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers every plugin's :class:`PluginInfo`."""

    def __init__(self) -> None:
        super().__init__(GROUP)
        self.infos: dict[str, PluginInfo] = {}


def declared_names(dist: Distribution | None) -> set[tuple[str, str]]:
    """The (kind, name) pairs a package declares in its ``etlcore.provides`` entry points."""
    if dist is None:
        return set()
    out = set()
    for ep in dist.entry_points:
        kind, _, name = ep.name.partition(".")
        if ep.group == PROVIDES_GROUP and kind in KINDS and name:
            out.add((kind, name))
    return out


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _blocked(name: str) -> tuple[str, str] | None:
    """(reason, fix) if ETLCORE_BLOCK_PLUGINS or ETLCORE_PLUGINS keeps ``name`` out."""
    if name in (_env_names("ETLCORE_BLOCK_PLUGINS") or ()):
        value = os.environ["ETLCORE_BLOCK_PLUGINS"]
        return (f"blocked by ETLCORE_BLOCK_PLUGINS={value}",
                f"remove '{name}' from ETLCORE_BLOCK_PLUGINS to use it")
    allowed = _env_names("ETLCORE_PLUGINS")
    if allowed is not None and name not in allowed:
        value = os.environ["ETLCORE_PLUGINS"] or "''"
        return (f"blocked: ETLCORE_PLUGINS={value} does not list it",
                f"add '{name}' to ETLCORE_PLUGINS to use it")
    return None


def hook_problems(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    """Hook mistakes pluggy would raise for every job, or silently ignore.

    A misspelled hook (``etlcore_register_sink``) makes pluggy's
    ``check_pending`` fail for all plugins; a hook function without
    ``@hookimpl`` is never called, so its names are just missing.
    """
    problems = []
    for attr in dir(plugin):
        if not attr.startswith("etlcore_"):
            continue
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            if callable(getattr(plugin, attr, None)):
                problems.append(f"{attr} is not marked @hookimpl, so etlcore would never call "
                                "it (decorate it with etlcore.plugin.hookimpl)")
        elif attr not in HOOK_NAMES and not opts.get("optionalhook"):
            close = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{attr} is not an etlcore hook{guess}")
    return problems


def register_checked(pm: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> PluginInfo:
    """Register ``plugin`` if its hooks are sound, else mark ``info`` broken."""
    problems = hook_problems(pm, plugin)
    if problems:
        return info.fail("; ".join(problems), f"fix the hooks of {info.package}")
    try:
        pm.register(plugin, name=info.name)
    except (pluggy.PluginValidationError, ValueError) as err:
        return info.fail(f"invalid hook: {err}", f"fix the hooks of {info.package}")
    return info


def load_entry_point(pm: PluginManager, ep: EntryPoint) -> PluginInfo:
    """Load, check and register one ``etlcore`` entry point; never raises."""
    dist = ep.dist
    info = PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "",
                      provides=declared_names(dist))
    blocked = _blocked(ep.name)
    if blocked:
        info.state, (info.reason, info.fix) = "blocked", blocked
        pm.set_blocked(ep.name)
        return info
    other = pm.infos.get(ep.name)
    if other is not None:
        return info.fail(f"entry-point name '{ep.name}' is also used by package {other.package}",
                         f"uninstall {info.package} or {other.package}")
    try:
        plugin = ep.load()
    except Exception as err:  # noqa: BLE001 - any failure of third-party code
        return info.fail(f"importing {ep.value} failed: {type(err).__name__}: {err}")
    info.plugin = plugin
    return register_checked(pm, plugin, info)


def load_entry_points(pm: PluginManager) -> None:
    """Record every installed ``etlcore`` entry point in ``pm.infos``, loading those allowed."""
    for ep in entry_points(group=GROUP):
        _record(pm, load_entry_point(pm, ep))


def _record(pm: PluginManager, info: PluginInfo) -> None:
    """Keep every plugin; a second package under a taken name (broken) gets a distinct key."""
    key, n = info.name, 2
    while key in pm.infos:
        key, n = f"{info.name}#{n}", n + 1
    pm.infos[key] = info
