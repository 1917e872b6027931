"""Config schema of the ``twitter`` source, checked on the driver before a job runs.

Imports no HTTP client: ``etlcore plugins`` imports it to list the settings.
The defaults are the X API v2 documented values (keep-alive every 20 s,
backoffs); tests shrink them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from etlcore.config import option, secret
from etlcore.errors import ConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_RULE_CHARS = 1024  # the longest rule value the API takes (Pro access)
_FIELD = re.compile(r"^[a-z_.]+$")


@dataclass
class TwitterSourceConfig:
    """Settings of the ``twitter`` source (one partition: the filtered stream)."""

    bearer_token: str | None = secret(None, help="app bearer token (or bearer_token_env)")
    bearer_token_env: str | None = option(
        None, help="name of an environment variable holding the bearer token", identity=False)
    base_url: str = option("https://api.twitter.com", help="API root (a stand-in in tests)")
    # rules choose what arrives from now on; the receiver log (positions) is unchanged by an
    # edit, so a job may change them and resume its checkpoint: not in the fingerprint
    rules: list[dict[str, str]] = option(
        [], help="filter rules [{value, tag}]; synced to the stream (added and deleted to match)",
        identity=False)
    sync_rules: bool = option(True, help="make the stream's rules exactly `rules` at start",
                              identity=False)
    tweet_fields: list[str] = option([], help="tweet.fields, e.g. [created_at, lang]")
    expansions: list[str] = option([], help="expansions, e.g. [author_id]")
    user_fields: list[str] = option([], help="user.fields, e.g. [username]")
    backfill_minutes: int = option(
        0, help="0-5: ask the API to resend the last N minutes on reconnect (duplicates are "
        "dropped by id)", identity=False)
    dedup_ids: int = option(100_000, help="recent tweet ids remembered to drop redeliveries",
                            identity=False)
    stall_timeout: float = option(
        20.0, help="seconds of silence (no tweet, no keep-alive) before reconnecting",
        identity=False)
    connect_timeout: float = option(10.0, help="seconds to connect", identity=False)
    network_backoff: float = option(0.25, help="network errors: linear backoff step (s)",
                                    identity=False)
    network_backoff_cap: float = option(16.0, help="network errors: longest wait (s)",
                                        identity=False)
    http_backoff: float = option(5.0, help="HTTP 5xx errors: first wait, doubled each time (s)",
                                 identity=False)
    http_backoff_cap: float = option(320.0, help="HTTP 5xx errors: longest wait (s)",
                                     identity=False)
    rate_limit_backoff: float = option(60.0, help="HTTP 429: first wait, doubled each time (s)",
                                       identity=False)
    rate_limit_backoff_cap: float = option(960.0, help="HTTP 429: longest wait (s)",
                                           identity=False)

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        self._check_token(prefix)
        if not re.match(r"^https?://[^/\s]+", self.base_url or ""):
            raise ConfigError(f"{prefix}base_url", "an http(s) URL such as "
                              "'https://api.twitter.com'", self.base_url)
        self._check_rules(prefix)
        for key in ("tweet_fields", "expansions", "user_fields"):
            for i, name in enumerate(getattr(self, key)):
                if not isinstance(name, str) or not _FIELD.match(name):
                    raise ConfigError(f"{prefix}{key}[{i}]", "a field name such as 'created_at'",
                                      name)
        if not 0 <= self.backfill_minutes <= 5:
            raise ConfigError(f"{prefix}backfill_minutes", "an integer from 0 to 5",
                              self.backfill_minutes)
        if self.dedup_ids < 0:
            raise ConfigError(f"{prefix}dedup_ids", "a non-negative number of ids",
                              self.dedup_ids)
        for key in ("stall_timeout", "connect_timeout", "network_backoff", "network_backoff_cap",
                    "http_backoff", "http_backoff_cap", "rate_limit_backoff",
                    "rate_limit_backoff_cap"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{prefix}{key}", "a positive number of seconds",
                                  getattr(self, key))

    def _check_token(self, prefix: str) -> None:
        if self.bearer_token_env is not None:
            if not _ENV_NAME.match(self.bearer_token_env):
                raise ConfigError(f"{prefix}bearer_token_env", "an environment variable name",
                                  self.bearer_token_env)
            if self.bearer_token is not None:
                raise ConfigError(f"{prefix}bearer_token_env", "bearer_token or "
                                  "bearer_token_env, not both", has_value=False)
            if not os.environ.get(self.bearer_token_env):
                raise ConfigError(f"{prefix}bearer_token_env", f"the environment variable "
                                  f"{self.bearer_token_env} to hold the bearer token; it is "
                                  "unset or empty", has_value=False)
        elif not self.bearer_token:
            raise ConfigError(f"{prefix}bearer_token", "a bearer token (or bearer_token_env: "
                              "the name of an environment variable holding it)",
                              has_value=False)

    def _check_rules(self, prefix: str) -> None:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            key = f"{prefix}rules[{i}]"
            if not isinstance(rule, dict) or set(rule) - {"value", "tag"}:
                raise ConfigError(key, "a mapping with 'value' and optional 'tag'",
                                  rule)
            value = rule.get("value")
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{key}.value", "a non-empty rule such as '#python lang:en'",
                                  value)
            if len(value) > _MAX_RULE_CHARS:
                raise ConfigError(f"{key}.value", f"at most {_MAX_RULE_CHARS} characters",
                                  f"{len(value)} characters")
            if not isinstance(rule.get("tag", ""), str):
                raise ConfigError(f"{key}.tag", "a string", rule.get("tag"))
            if value in seen:
                raise ConfigError(f"{key}.value", "each rule value once", value)
            seen.add(value)

    def token(self) -> str:
        """The bearer token, from the config or the environment variable it names."""
        if self.bearer_token_env is not None:
            return os.environ.get(self.bearer_token_env, "")
        return self.bearer_token or ""

    def desired_rules(self) -> list[dict[str, Any]]:
        """The configured rules in the API's shape (``tag`` left out when empty)."""
        return [{"value": r["value"], **({"tag": r["tag"]} if r.get("tag") else {})}
                for r in self.rules]
