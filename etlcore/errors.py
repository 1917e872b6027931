"""Exceptions users meet. Each says what went wrong and what to do about it."""

from __future__ import annotations


class EtlcoreError(Exception):
    """Base class: the CLI prints these as one clear line, not a traceback."""


class ConfigError(EtlcoreError):
    """A configuration value is missing or has the wrong shape.

    ``key`` is the dotted path of the offending key (``sinks[1].config.path``),
    ``expected`` says what would have been accepted.
    """

    def __init__(self, key: str, expected: str, got: object = None, *, has_value: bool = True):
        self.key = key
        self.expected = expected
        self.got = got
        where = f"config key '{key}'" if key else "config"
        if has_value:
            message = f"{where}: expected {expected}, got {got!r}"
        else:
            message = f"{where}: {expected}"
        super().__init__(message)


class PluginNotFoundError(EtlcoreError):
    """No usable plugin answers to a source or sink name.

    Plain: nothing installed registers it. The subclasses say why an installed
    plugin cannot serve it (blocked, broken, registered twice), so code that
    catches this one (``Job`` turns it into a ConfigError naming the key) covers
    them all. ``note`` is appended as is (which plugins were not loaded, ...).
    """

    def __init__(self, kind: str, name: str, installed: list[str],
                 package: str | None = None, *, note: str = ""):
        self.kind = kind
        self.name = name
        hint = f" Install it with: pip install {package}" if package else ""
        listing = ", ".join(sorted(installed)) or "(none)"
        super().__init__(f"no {kind} plugin named '{name}'. Installed {kind}s: "
                         f"{listing}.{hint}{note}")


class _PluginUnusableError(PluginNotFoundError):
    """An installed plugin should provide ``kind 'name'`` but cannot; the message says why."""

    def __init__(self, kind: str, name: str, message: str, plugins: list[str]):
        self.kind = kind
        self.name = name
        self.plugins = plugins  # entry-point names of the plugins at fault
        EtlcoreError.__init__(self, message)


class PluginBlockedError(_PluginUnusableError):
    """The plugin is installed but ETLCORE_BLOCK_PLUGINS or ETLCORE_PLUGINS keeps it unloaded."""


class PluginBrokenError(_PluginUnusableError):
    """The plugin failed to import, to register, or to import the connector asked for."""


class PluginConflictError(_PluginUnusableError):
    """Two plugins register the same name; using either silently would be a guess."""


class MissingDependencyError(EtlcoreError):
    """A library a plugin needs is not importable; says what to pip install.

    Raised by :func:`etlcore.plugin.require`. Deliberately not an ImportError:
    the CLI prints EtlcoreErrors as one line but lets ImportErrors through as
    tracebacks (they usually mean a broken install of etlcore itself).
    """

    def __init__(self, module: str, package: str, plugin: str | None, cause: BaseException):
        self.module = module
        self.package = package
        self.plugin = plugin
        who = plugin or "this plugin"
        super().__init__(f"{who} needs the Python module '{module}', which cannot be imported "
                         f"({type(cause).__name__}: {cause}): run pip install {package}")


class CheckpointError(EtlcoreError):
    """A checkpoint directory that cannot be used by this job (corrupt, foreign, too new)."""


class BackpressureError(EtlcoreError):
    """Raised by a sink that cannot take more now; the engine retries the write later."""

    def __init__(self, message: str = "sink is saturated", retry_after: float = 1.0):
        self.retry_after = retry_after
        super().__init__(message)


class StopJob(EtlcoreError):  # noqa: N818 - reads as an instruction, like StopIteration
    """Raise from a foreach_batch function to end the run after the current batch."""
