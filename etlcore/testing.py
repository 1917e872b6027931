"""Helpers for testing jobs and plugins (shipped to users, like bytewax.testing).

    from etlcore.testing import run_batches

    def test_word_count():
        out = run_batches(
            [["a b", "a"], ["b"]],
            lambda s: s.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key("sum"),
        )
        assert dict(out[0]) == {"a": 2, "b": 1}
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from etlcore.connectors.queue import MemorySink, QueueSource, QueueSourceConfig
from etlcore.context import StreamingContext
from etlcore.source import OffsetSource
from etlcore.stream import Stream

__all__ = ["BatchPerOffset", "MemorySink", "QueueSource", "TestingSource", "run_batches"]

_ids = itertools.count()


def TestingSource(batches: Iterable[Iterable[Any]]) -> QueueSource:  # noqa: N802 - reads as a class
    """A replayable source serving ``batches``, one per micro-batch."""
    return QueueSource(QueueSourceConfig(batches=[list(b) for b in batches]))


class BatchPerOffset(OffsetSource):
    """One partition whose offset n is ``batches[n]``: a source for testing a reader.

    Each planned batch takes exactly one offset, so batch n reads ``batches[n]`` and a
    replay reads the same; a subclass gives :meth:`reader`, which is what it tests.
    """

    def __init__(self, batches: list[Any]):
        self.batches = batches

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return len(self.batches)

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(len(self.batches), start + 1)


def run_batches(
    batches: Iterable[Iterable[Any]],
    build: Callable[[Stream], Stream],
    *,
    batch_interval: float = 1.0,
    **context_options: Any,
) -> dict[int, list[Any]]:
    """Run ``build(stream)`` over ``batches`` with a manual clock; batch id -> output records.

    Batches with no output are absent from the result.
    """
    batches = [list(b) for b in batches]
    ctx = StreamingContext(batch_interval, clock="manual", **context_options)
    name = f"testing-{next(_ids)}"
    MemorySink.clear(name)
    build(ctx.stream(TestingSource(batches), name="input")).sink("memory", name=name)
    ctx.run(batches=len(batches))
    try:
        return MemorySink.batches(name)
    finally:
        MemorySink.clear(name)
