"""Runners decide where partition tasks run.

The local runner runs them in this process, one after another: no pickling,
no threads, the fastest choice on one machine for Python-level work. A Spark
runner (later) takes the same tasks to executors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Runner(Protocol):
    name: str
    default_parallelism: int  # partitions for keyed state and windows unless set

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


class LocalRunner:
    """Runs every partition task in the calling thread."""

    name = "local"
    default_parallelism = 1  # one thread: more partitions would only add routing work

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return [fn(item) for item in items]
