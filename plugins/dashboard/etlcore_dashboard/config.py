"""Config schema of the ``dashboard`` sink, checked on the driver before a job runs.

Imports no web library: ``etlcore plugins`` imports it to list the settings.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Literal

from etlcore.config import option, secret
from etlcore.errors import ConfigError

PanelKind = Literal["line", "bar", "table", "number"]
Agg = Literal["sum", "count", "mean", "min", "max", "last"]
Field = str | int  # a dict key or attribute name, or a tuple index

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_KEPT = 10_000  # points, rows or bars: more would make every page update heavy
# settings that mean something for some panels only; set for another, they are a mistake
ONLY_FOR = {"value": ("line", "bar", "number"), "agg": ("line", "bar", "number"),
            "key": ("bar",), "top": ("bar",), "columns": ("table",), "rows": ("table",),
            "points": ("line",)}


@dataclass
class DashboardSinkConfig:
    """One panel of the job's dashboard page; every dashboard sink on a host/port shares the page."""

    panel: PanelKind = option(
        help="line: a number per batch over batch time; bar: the top keys of the batch (a "
        "window's counts); table: the latest rows; number: one big number")
    title: str | None = option(None, help="panel heading (default: the sink's name)")
    value: Field | None = option(
        None, help="line, bar, number: field (or tuple index) holding the number; none: the "
        "record itself")
    agg: Agg = option("sum", help="how a batch's numbers become one (count: number of records)")
    key: Field | None = option(None, help="bar: field (or tuple index) naming each bar")
    top: int = option(10, help="bar: bars shown, largest first")
    columns: list[str] | None = option(
        None, help="table: fields shown (default: the keys of the rows, first seen first)")
    rows: int = option(20, help="table: latest rows kept")
    points: int = option(300, help="line: latest batches kept")
    host: str = option("127.0.0.1", help="address the page is served on (loopback by default)")
    port: int = option(8050, help="port of the page; 0: a free port chosen by the OS")
    token: str | None = secret(None, help="required by the page and its events when set "
                               "(open http://HOST:PORT/?token=...)")
    token_env: str | None = option(None, help="name of an environment variable holding the token")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, kinds in ONLY_FOR.items():
            if self.panel not in kinds and getattr(self, name) != defaults[name]:
                raise ConfigError(f"{prefix}{name}", f"no {name} for panel '{self.panel}' (it is "
                                  f"a setting of {' and '.join(repr(k) for k in kinds)} panels)",
                                  has_value=False)
        if self.title is not None and not self.title.strip():
            raise ConfigError(f"{prefix}title", "a non-empty heading (or leave it out)", self.title)
        if self.panel == "bar" and self.key is None:
            raise ConfigError(f"{prefix}key", "the field naming each bar (e.g. 'tag'); panel "
                              "'bar' needs it", has_value=False)
        for name in ("value", "key"):
            field = getattr(self, name)
            if isinstance(field, int) and field < 0 or isinstance(field, str) and not field:
                raise ConfigError(f"{prefix}{name}", "a field name or a tuple index >= 0", field)
        for name in ("top", "rows", "points"):
            n = getattr(self, name)
            if not 1 <= n <= MAX_KEPT:
                raise ConfigError(f"{prefix}{name}", f"a count from 1 to {MAX_KEPT}", n)
        if self.columns is not None and (not self.columns or not all(self.columns)):
            raise ConfigError(f"{prefix}columns", "a non-empty list of field names", self.columns)
        if not self.host or not self.host.strip():
            raise ConfigError(f"{prefix}host", "an address such as '127.0.0.1'", self.host)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{prefix}port", "a port from 1 to 65535 (0: any free port)",
                              self.port)
        self._check_token(prefix)

    def _check_token(self, prefix: str) -> None:
        if self.token_env is None:
            if self.token is not None and not self.token:
                raise ConfigError(f"{prefix}token", "a non-empty token (or leave it out)",
                                  has_value=False)
            return
        if not _ENV_NAME.match(self.token_env):
            raise ConfigError(f"{prefix}token_env", "an environment variable name", self.token_env)
        if self.token is not None:
            raise ConfigError(f"{prefix}token_env", "token or token_env, not both",
                              has_value=False)
        if not os.environ.get(self.token_env):
            raise ConfigError(f"{prefix}token_env", f"the environment variable {self.token_env} "
                              "to hold the token; it is unset or empty", has_value=False)

    def resolved_token(self) -> str | None:
        """The token, from the config or the environment variable it names (None: no token)."""
        if self.token_env is not None:
            return os.environ.get(self.token_env) or None
        return self.token
