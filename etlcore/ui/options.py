"""What ``ui=`` (StreamingContext), ``ui:`` (YAML) and ``--ui*`` (CLI) accept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from etlcore.config import option, parse_config, secret
from etlcore.errors import ConfigError

DEFAULT_PORT = 4040  # Spark's UI port


@dataclass
class UIOptions:
    """Where the web UI and ``/metrics`` listen, and who may read them."""

    host: str = option("127.0.0.1", help="address to bind; other hosts need a token")
    port: int | None = option(DEFAULT_PORT, help="web UI port (0: any free port; "
                              "None: no web UI, only --metrics-port)")
    token: str | None = secret(None, help="required by the page, its API and /metrics")
    metrics_port: int | None = option(None, help="serve /metrics alone on this port too")
    keep: int = option(1000, help="recent batches kept for the page")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        for name in ("port", "metrics_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65535:
                raise ConfigError(f"{prefix}{name}", "a TCP port (0..65535)", value)
        if self.port is None and self.metrics_port is None:
            raise ConfigError(f"{prefix}port", "a port for the UI or a metrics_port",
                              has_value=False)
        if self.token is not None and not self.token:
            raise ConfigError(f"{prefix}token", "a non-empty token", "<redacted>")
        if self.keep < 1:
            raise ConfigError(f"{prefix}keep", "a positive number of batches", self.keep)


def ui_options(value: Any, where: str = "ui") -> UIOptions | None:
    """``True``/``False``/``None``, a mapping of settings, or UIOptions -> UIOptions or None."""
    if value is None or value is False:
        return None
    if value is True:
        return UIOptions()
    if isinstance(value, UIOptions):
        value.validate(where)
        return value
    if isinstance(value, dict):
        return parse_config(UIOptions, value, where)
    raise ConfigError(where, "true, or a mapping with host, port, token, metrics_port", value)
