"""Store sinks against their own client's best raw bulk write, one run per store.

Each store is a module here (``cassandra.py``, ``mongodb.py``, ``hbase.py``) that defines
``BENCH``: a :class:`StoreBench`. ``python -m benchmarks.stores`` runs every store whose
server is up (or the ones named with ``--stores``) and prints records/s of etlcore and of
the raw client on the same rows, in the same run, with the ratio (target >= 0.80).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

# The rows every store writes: (id, user, amount, ts). ``id`` is the upsert key.
Row = tuple[int, str, float, int]


def make_rows(n: int) -> list[Row]:
    """Deterministic rows: ids 0..n-1, 1,000 users, amounts in quarters, whole-ms times."""
    return [(i, f"u{i % 1000}", (i % 400) / 4, 1_700_000_000_000 + i) for i in range(n)]


class StoreBench(ABC):
    """One store: how to write ``rows`` raw and through etlcore, and how to check them."""

    name: str = ""
    service: str = ""  # the svcharness service name that must be running

    @abstractmethod
    def setup(self) -> None:
        """Connect (server address from the harness's environment) and create the table."""

    @abstractmethod
    def reset(self) -> None:
        """Empty the table between runs."""

    @abstractmethod
    def raw(self, rows: list[Row]) -> None:
        """The client's best raw bulk write of ``rows`` (what a user would hand-write)."""

    @abstractmethod
    def through_etlcore(self, rows: list[Row], batch_size: int) -> None:
        """An etlcore job (local runner) storing ``rows`` through the store's sink."""

    @abstractmethod
    def count(self) -> int:
        """Rows stored (each run must store exactly ``len(rows)``)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    def describe(self) -> dict[str, Any]:
        """Anything worth printing beside the numbers (client version, settings)."""
        return {}
