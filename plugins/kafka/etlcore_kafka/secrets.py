"""Which librdkafka settings are secret, and masking them: no client library needed.

Kept apart from :mod:`etlcore_kafka._client` so that the config schemas (checked
on the driver before a job starts, and by ``etlcore plugins``) can mask their
reprs without importing confluent-kafka.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_WORDS = ("password", "secret", "token", "jaas")
_SECRET_KEYS = frozenset({"sasl.password", "sasl.username.password"})


def is_secret_key(key: str) -> bool:
    """True for client settings whose values must never be shown."""
    low = key.lower()
    return low in _SECRET_KEYS or any(word in low for word in _SECRET_WORDS)


def mask(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a client config with every secret value replaced (for reprs and logs)."""
    return {k: REDACTED if is_secret_key(k) else v for k, v in conf.items()}


def scrub(text: str, conf: Mapping[str, Any]) -> str:
    """``text`` with every secret value of ``conf`` cut out (error messages quote values)."""
    for key, value in conf.items():
        if is_secret_key(key) and value not in (None, ""):
            text = text.replace(str(value), REDACTED)
    return text
