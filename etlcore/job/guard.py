"""Per-record functions whose failures become dead letters, not failed batches.

Jobs name the stage after where the step sits in the job
(``cleanse[1].require``); the stream API's guard and dead-letter hooks carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from etlcore.stream import Stream, _reason

Kind = Literal["map", "flat_map", "filter"]


def chain_steps(stream: Stream, op: str, steps: Sequence[tuple[str, Callable[[Any], Any]]]) -> Stream:
    """Run ``steps`` in order on every record; the first to fail dead-letters the original."""

    def run_partition(part: list[Any], dead_letter: Callable[[Any, str, str], None]) -> list[Any]:
        out = []
        for record in part:
            value = record
            for stage, fn in steps:
                try:
                    value = fn(value)
                except Exception as err:  # noqa: BLE001 - a failing record is dead-lettered
                    dead_letter(record, _reason(err), stage)
                    break
            else:
                out.append(value)
        return out

    return stream.map_partitions_with_dead_letters(run_partition)


def guarded(stream: Stream, stage: str, fn: Callable[[Any], Any], kind: Kind) -> Stream:
    """A map, flat_map or filter whose failing records go to the dead letters as ``stage``."""
    return stream.guard(fn, kind, stage=stage)
