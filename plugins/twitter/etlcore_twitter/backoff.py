"""Reconnect waits of the filtered stream, as the X API v2 docs prescribe.

Network errors (a refused connection, a dropped or silent stream): linear,
``step`` more each time, up to ``cap`` (250 ms .. 16 s). HTTP errors (5xx):
exponential from ``http`` up to ``cap`` (5 s .. 320 s). 429: exponential from
one minute. A stream that delivered data resets the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["network", "http", "rate_limit"]


@dataclass
class Backoff:
    """Counts consecutive failures per kind; :meth:`next` says how long to wait."""

    network_step: float = 0.25
    network_cap: float = 16.0
    http_base: float = 5.0
    http_cap: float = 320.0
    rate_base: float = 60.0
    rate_cap: float = 960.0
    failures: dict[str, int] = field(default_factory=dict)

    def next(self, kind: Kind) -> float:
        """The wait before the next attempt after a failure of ``kind``."""
        n = self.failures[kind] = self.failures.get(kind, 0) + 1
        if kind == "network":
            return min(self.network_step * n, self.network_cap)
        if kind == "http":
            return min(self.http_base * 2 ** (n - 1), self.http_cap)
        return min(self.rate_base * 2 ** (n - 1), self.rate_cap)

    def reset(self) -> None:
        """A connection delivered: the next failure starts from the first wait again."""
        self.failures.clear()
