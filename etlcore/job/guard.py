"""Per-record functions whose failures become dead letters, not failed batches.

Jobs name the stage after where the step sits in the job
(``cleanse[1].require``); the stream API's guard and dead-letter hooks carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from etlcore.jsondecode import JsonDecoder
from etlcore.stream import Stream, _reason

Kind = Literal["map", "flat_map", "filter"]


def chain_steps(stream: Stream, op: str, steps: Sequence[tuple[str, Callable[[Any], Any]]]) -> Stream:
    """Run ``steps`` in order on every record; the first to fail dead-letters the original."""

    first_stage, first = steps[0] if steps else ("", None)
    if isinstance(first, JsonDecoder):  # parse_json first: the whole batch in one C pass
        rest = steps[1:]

        def run_partition(part: list[Any], dead_letter: Callable[[Any, str, str], None]) -> list[Any]:
            values, failed = first.decode_many(part)
            if failed:
                bad = {i for i, _ in failed}
                for i, reason in failed:
                    dead_letter(part[i], reason, first_stage)
                part = [r for i, r in enumerate(part) if i not in bad]
            return _chain(part, values, rest, dead_letter) if rest else values
    else:

        def run_partition(part: list[Any], dead_letter: Callable[[Any, str, str], None]) -> list[Any]:
            return _chain(part, part, steps, dead_letter)

    return stream.map_partitions_with_dead_letters(run_partition)


def _chain(originals: list[Any], values: list[Any], steps: Sequence[tuple[str, Callable[[Any], Any]]],
           dead_letter: Callable[[Any, str, str], None]) -> list[Any]:
    """``steps`` on each value in turn; a failure dead-letters the original record."""
    out = []
    for record, value in zip(originals, values, strict=True):
        for stage, fn in steps:
            try:
                value = fn(value)
            except Exception as err:  # noqa: BLE001 - a failing record is dead-lettered
                dead_letter(record, _reason(err), stage)
                break
        else:
            out.append(value)
    return out


def guarded(stream: Stream, stage: str, fn: Callable[[Any], Any], kind: Kind) -> Stream:
    """A map, flat_map or filter whose failing records go to the dead letters as ``stage``."""
    return stream.guard(fn, kind, stage=stage)
