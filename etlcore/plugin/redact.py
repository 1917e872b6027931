"""Keep ``secret`` config values out of reprs, logs and error messages.

:func:`etlcore.config.secret` marks a field; the config's own repr already
leaves it out. But connectors print more than their config: a client library
may put the password of a connection URL into its exception text, and a
connector's repr is what a failed pickle or a traceback shows. These helpers
scrub the values themselves.

    class MongoSink(RedactedRepr, UpsertSink): ...      # repr shows the config, secrets hidden

    with redacted_errors(self.config, "mongodb sink"):  # client errors lose the password
        self.client = MongoClient(self.config.uri)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from etlcore.errors import EtlcoreError

REDACTED = "<redacted>"


def secret_fields(config: Any) -> list[str]:
    """Names of the fields of a config dataclass marked with ``secret``."""
    if not dataclasses.is_dataclass(config):
        return []
    return [f.name for f in dataclasses.fields(config) if f.metadata.get("secret")]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, bytes):
        yield from _strings(value.decode("utf-8", "replace"))
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _strings(v)
    elif value is not None and not isinstance(value, bool):
        yield from _strings(str(value))


def secret_values(config: Any) -> list[str]:
    """Every secret string in ``config`` (values of dicts and lists too), longest first."""
    found = {s for name in secret_fields(config) for s in _strings(getattr(config, name))}
    return sorted(found, key=lambda s: (-len(s), s))  # a secret inside another: replaced after


def redact(text: str, config: Any) -> str:
    """``text`` with each secret value of ``config`` replaced by ``<redacted>``."""
    for value in secret_values(config):
        text = text.replace(value, REDACTED)
    return text


def config_repr(config: Any) -> str:
    """``Name(key=value, ...)`` with secrets shown as ``<redacted>`` (None stays None)."""
    if not dataclasses.is_dataclass(config):
        return redact(repr(config), config)
    parts = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        shown = REDACTED if f.metadata.get("secret") and value is not None else repr(value)
        parts.append(f"{f.name}={shown}")
    return redact(f"{type(config).__name__}({', '.join(parts)})", config)


class RedactedRepr:
    """Mixin: ``repr(connector)`` shows its ``config`` attribute with secrets hidden."""

    config: Any

    def __repr__(self) -> str:
        config = getattr(self, "config", None)
        inner = config_repr(config) if config is not None else ""
        return f"{type(self).__name__}({inner})"


class RedactedError(EtlcoreError):
    """An error whose message contained a secret; ``original`` names its type."""

    def __init__(self, message: str, original: str):
        self.original = original
        super().__init__(message)


@contextmanager
def redacted_errors(config: Any, what: str) -> Iterator[None]:
    """Re-raise an error that mentions a secret as a :class:`RedactedError` without it.

    Errors that mention no secret pass through unchanged (their type matters to
    callers that retry). The original is not chained, since its traceback would
    print the secret again.
    """
    try:
        yield
    except Exception as err:
        text = f"{err}"
        notes = "\n".join(getattr(err, "__notes__", []))
        if not any(v in text or v in notes or v in repr(err.args) for v in secret_values(config)):
            raise
        raise RedactedError(f"{what}: {type(err).__name__}: {redact(text, config)}",
                            type(err).__name__) from None
