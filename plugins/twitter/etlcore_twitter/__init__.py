"""etlcore-twitter: a push source over the X (Twitter) API v2 filtered stream.

    ctx.source("twitter", bearer_token_env="X_BEARER_TOKEN",
               rules=[{"value": "#python lang:en", "tag": "python"}])

- :class:`~etlcore_twitter.source.TwitterSource` (driver): rule sync, the stream,
  reconnects; tweets go to a write-ahead log before they count as received.
- :mod:`etlcore_twitter.standin`: a local server speaking the same protocol,
  with injectable faults (tests, ``etlcore demo --source twitter-standin``).

Registering imports no HTTP client: the registry imports the source on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar


@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register.source("twitter", "etlcore_twitter.source:TwitterSource",
                    "etlcore_twitter.config:TwitterSourceConfig",
                    "X (Twitter) API v2 filtered stream, rules synced from the config")
