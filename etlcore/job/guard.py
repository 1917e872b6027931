"""Per-record functions whose failures become dead letters, not failed batches.

``Stream`` only exposes dead-lettering through ``on_error=`` with the node key
as the stage; jobs want the stage named after where the step sits in the job
(``cleanse[1].require``), so this module builds the node itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from etlcore.graph.base import BatchRun, MapPartitionsNode
from etlcore.job.cleanse import Reject
from etlcore.stream import Stream

Kind = Literal["map", "flat_map", "filter"]


def _reason(err: Exception) -> str:
    return err.reason if isinstance(err, Reject) else f"{type(err).__name__}: {err}"


def chain_steps(stream: Stream, op: str, steps: Sequence[tuple[str, Callable[[Any], Any]]]) -> Stream:
    """Run ``steps`` in order on every record; the first to fail dead-letters the original."""

    def run_partition(part: list[Any], run: BatchRun) -> list[Any]:
        out = []
        for record in part:
            value = record
            for stage, fn in steps:
                try:
                    value = fn(value)
                except Exception as err:  # noqa: BLE001 - a failing record is dead-lettered
                    run.dead_letter(record, _reason(err), stage)
                    break
            else:
                out.append(value)
        return out

    return _add(stream, op, run_partition)


def guarded(stream: Stream, stage: str, fn: Callable[[Any], Any], kind: Kind) -> Stream:
    """A map, flat_map or filter whose failing records go to the dead letters as ``stage``."""

    def run_partition(part: list[Any], run: BatchRun) -> list[Any]:
        out: list[Any] = []
        for record in part:
            try:
                result = fn(record)
                if kind == "flat_map":
                    result = list(result)
            except Exception as err:  # noqa: BLE001 - a failing record is dead-lettered
                run.dead_letter(record, _reason(err), stage)
                continue
            if kind == "map":
                out.append(result)
            elif kind == "filter":
                if result:
                    out.append(record)
            else:
                out.extend(result)
        return out

    return _add(stream, kind, run_partition, stage)


def _add(stream: Stream, op: str, fn: Callable[[list[Any], BatchRun], list[Any]],
         stage: str | None = None) -> Stream:
    graph = stream.ctx._graph
    node = MapPartitionsNode(stream.node, graph.new_key(op), fn, stage=stage, with_run=True)
    return Stream(stream.ctx, graph.add(node))
