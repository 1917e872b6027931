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
    """A source or sink name that no installed plugin provides."""

    def __init__(self, kind: str, name: str, installed: list[str], package: str | None):
        self.kind = kind
        self.name = name
        hint = f" Install it with: pip install {package}" if package else ""
        listing = ", ".join(sorted(installed)) or "(none)"
        super().__init__(f"no {kind} plugin named '{name}'. Installed {kind}s: {listing}.{hint}")


class CheckpointError(EtlcoreError):
    """A checkpoint directory that cannot be used by this job (corrupt, foreign, too new)."""


class BackpressureError(EtlcoreError):
    """Raised by a sink that cannot take more now; the engine retries the write later."""

    def __init__(self, message: str = "sink is saturated", retry_after: float = 1.0):
        self.retry_after = retry_after
        super().__init__(message)


class StopJob(EtlcoreError):  # noqa: N818 - reads as an instruction, like StopIteration
    """Raise from a foreach_batch function to end the run after the current batch."""
