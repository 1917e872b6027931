"""One stage task: what a worker runs, with values in and values out.

A task never touches a driver object. Its input is a source range (or records
the driver read), or the shuffle blocks routed to its reduce partition and
that partition's state; its result carries the blocks for the next stage
(already map-side combined and routed), sink commit messages, records for the
driver, dead letters, counters and the partition's new state.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.engine.stages import Exit, Member, Program, Stage
from etlcore.errors import BackpressureError
from etlcore.graph.base import DeadLetter, MapFold, TaskContext, concat
from etlcore.letters import PackedLetters
from etlcore.lineblock import LineBlock
from etlcore.metrics import counting
from etlcore.records import as_tuple_rows
from etlcore.sink import PartWriter, SinkWriter, WriterContext, WriteResult
from etlcore.source import ReaderContext, Rejected, SourceReader


@dataclass
class Task:
    stage: int
    part: int
    info: BatchInfo
    index: int
    source: tuple[str, Any, Any] | None = None  # (partition, start, end) for a worker read
    records: list[Any] | None = None  # records the driver read (DriverReader sources)
    inputs: list[list[Any] | None] | None = None  # wide stages: blocks per consumer side
    state: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    shuffle_n: dict[str, int] = field(default_factory=dict)
    sink_base: dict[int, int] = field(default_factory=dict)  # exit id -> first partition number
    emits: bool = True
    state_only: bool = False


@dataclass
class TaskResult:
    stage: int
    part: int
    shuffle: dict[int, list[Any] | None] = field(default_factory=dict)
    messages: dict[int, list[tuple[int, Any]]] = field(default_factory=dict)
    written: dict[int, int] = field(default_factory=dict)
    collected: dict[int, list[list[Any]] | None] = field(default_factory=dict)
    # a list; from a worker process, packed (etlcore.letters.PackedLetters)
    dead_letters: list[DeadLetter] | PackedLetters = field(default_factory=list)
    late_records: int = 0
    counters: dict[str, Any] = field(default_factory=dict)
    records_in: int = 0
    state: Any = None
    state_len: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # etlcore.metrics.count() calls
    records_out: dict[str, int] = field(default_factory=dict)  # node key -> records it emitted
    write_s: dict[int, float] = field(default_factory=dict)  # sink exit id -> seconds writing


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerEnv:
    """Readers and writers opened once per worker and reused across batches."""

    def __init__(self, worker: str = "driver"):
        self.worker = worker
        self.stopping = threading.Event()  # a hard stop: readers see it as ctx.stop_event
        self.readers: dict[tuple[str, int], SourceReader] = {}
        self.writers: dict[tuple[str, str], SinkWriter] = {}

    def reader(self, program: Program, stage: int) -> SourceReader:
        key = (program.uid, stage)
        reader = self.readers.get(key)
        if reader is None:
            st = program.stages[stage]
            reader = st.reader
            assert reader is not None
            reader.open(ReaderContext(st.root, program.job, program.checkpoint_dir, self.worker,
                                      self.stopping))
            self.readers[key] = reader
        return reader

    def writer(self, program: Program, name: str) -> SinkWriter:
        key = (program.uid, name)
        writer = self.writers.get(key)
        if writer is None:
            writer = program.writers[name]
            writer.open(WriterContext(name, program.job, program.checkpoint_dir, self.worker))
            self.writers[key] = writer
        return writer

    def close_program(self, uid: str) -> None:
        """Close what one job opened (a worker kept for later jobs outlives it)."""
        items: list[Any] = [self.readers.pop(k) for k in [k for k in self.readers if k[0] == uid]]
        items += [self.writers.pop(k) for k in [k for k in self.writers if k[0] == uid]]
        for item in items:
            with contextlib.suppress(Exception):  # closing everything matters more
                item.close()

    def close(self) -> None:
        items: list[Any] = [*self.readers.values(), *self.writers.values()]
        self.readers.clear()
        self.writers.clear()
        for item in items:
            with contextlib.suppress(Exception):  # closing everything matters more
                item.close()


@contextlib.contextmanager
def gc_paused() -> Any:
    """No cyclic GC while a shipped task runs.

    A task allocates many short-lived containers (parsed JSON, tuples, partial
    aggregates) that reference counting frees; the collector's passes over them
    find nothing (W3, JSON: 1.04x -> 1.26x ``local`` on 2 processes). A worker
    process runs nothing else meanwhile; collection resumes after the task.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def owned(records: Iterable[Any], fresh: bool) -> list[Any]:
    """A source's records as a list the batch owns: a fresh list as it is, else a copy."""
    return records if fresh and type(records) is list else list(records)


def _read(program: Program, env: WorkerEnv, task: Task, ctx: TaskContext,
          result: TaskResult) -> list[Any]:
    if task.records is not None:
        records = task.records
    elif task.source is not None and task.source[1] != task.source[2]:
        partition, start, end = task.source
        records = owned(env.reader(program, task.stage).read(partition, start, end),
                        program.stages[task.stage].fresh)
    else:
        records = []
    result.records_in = len(records)
    return _reject(program.stages[task.stage], records, ctx)


def _reject(stage: Stage, records: list[Any], ctx: TaskContext) -> list[Any]:
    """The records without the source's Rejected ones, which become dead letters."""
    # a C-level scan (no Python call per record), for sources that may reject at all
    if stage.rejects and Rejected in map(type, records):
        root = stage.root
        for r in records:
            if type(r) is Rejected:
                ctx.dead_letter(r.record, r.reason, root, r.origin)
        records = [r for r in records if type(r) is not Rejected]
    return records


_WRITE_RETRIES = 30


def _write(writer: SinkWriter, info: BatchInfo, partition: int, records: list[Any]) -> Any:
    """A write, retried while the sink says it is saturated (BackpressureError)."""
    for attempt in range(_WRITE_RETRIES):
        try:
            return writer.write(info, partition, records)
        except BackpressureError as err:
            if attempt == _WRITE_RETRIES - 1:
                raise
            time.sleep(err.retry_after)
    return None


def execute(program: Program, env: WorkerEnv, task: Task) -> TaskResult:
    """Run one stage task; operator errors propagate with the stage named."""
    counts: dict[str, int] = {}
    with counting(counts):
        result = _execute(program, env, task)
    result.counts = counts
    return result


#: records a streamed task reads, maps and hands its sinks at a time
STREAM_CHUNK = 8192


def _streamable(stage: Stage, task: Task) -> bool:
    """A source stage with input whose chain maps record by record into sinks only: its
    partition can flow through in chunks, so a sink stores the first records while the
    rest are read."""
    if stage.kind != "source" or task.state_only or not stage.exits:
        return False
    if not task.records and (task.source is None or task.source[1] == task.source[2]):
        return False  # nothing to read: the sinks get their empty write, no part writer
        # (which would start an upload on the last file's size: S3's create and abort)
    last = stage.root
    for m in stage.members:
        if m.node is None or m.inputs != [last] or not getattr(m.node, "per_record", False):
            return False
        last = m.key
    return all(ex.kind == "sink" and ex.node == last for ex in stage.exits)


def _stream(program: Program, env: WorkerEnv, task: Task, stage: Stage, ctx: TaskContext,
            result: TaskResult, where: list[str]) -> bool:
    """Run a streamable stage chunk by chunk into its sinks' part writers.

    False, having done nothing, when a sink takes whole partitions only. ``where[0]``
    names the operator or sink at work, for the note on an error.
    """
    parts: list[tuple[Exit, int, PartWriter]] = []
    for ex in stage.exits:
        base = task.sink_base[ex.id]
        part = env.writer(program, ex.target).open_part(task.info, base)
        if part is None:
            for _, _, opened in parts:
                opened.abort()
            return False
        parts.append((ex, base, part))
    lead = _lines_lead(stage)
    try:
        began = time.perf_counter()
        for chunk in _chunks(program, env, task, not stage.members or lead is not None):
            members = stage.members
            if isinstance(chunk, LineBlock):
                if not members and chunk.text:  # str lines as bytes, straight into the sinks
                    result.records_in += chunk.count
                    for ex, _, part in parts:
                        where[0] = ex.target
                        part.write_text(chunk)
                        result.written[ex.id] = result.written.get(ex.id, 0) + chunk.count
                    continue
                if lead is None:
                    chunk = chunk.lines()
                else:  # the first operator parses the lines in their buffer
                    where[0] = lead.key
                    records = _apply_block(lead, chunk, ctx, task.params.get(lead.key))
                    result.records_in += chunk.count  # counted by the decoder as it went
                    result.records_out[lead.key] = (result.records_out.get(lead.key, 0)
                                                    + len(records))
                    members = members[1:]
            if not isinstance(chunk, LineBlock):
                where[0] = stage.root
                result.records_in += len(chunk)
                records = _reject(stage, chunk, ctx)
            for m in members:
                assert m.node is not None
                where[0] = m.key
                records = m.node.apply(records, ctx, task.params.get(m.key))
                result.records_out[m.key] = result.records_out.get(m.key, 0) + len(records)
            if program.compact_rows:
                records = as_tuple_rows(records)
            for ex, _, part in parts:
                where[0] = ex.target
                part.write(records)
                result.written[ex.id] = result.written.get(ex.id, 0) + len(records)
        for ex, base, part in parts:
            where[0] = ex.target
            message = part.close()
            if isinstance(message, WriteResult):
                for record, reason in message.rejected:
                    ctx.dead_letter(record, reason, f"sink '{ex.target}'",
                                    f"sink partition {base}")
                message = message.message
            result.messages[ex.id] = [(base, message)]
            result.written.setdefault(ex.id, 0)
            result.write_s[ex.id] = time.perf_counter() - began
    except BaseException:
        for _, _, part in parts:
            with contextlib.suppress(Exception):  # the task's own error matters more
                part.abort()
        raise
    return True


def _chunks(program: Program, env: WorkerEnv, task: Task,
            blocks: bool) -> Iterator[list[Any] | LineBlock]:
    """The task's records in lists of ``STREAM_CHUNK``; with ``blocks`` also the blocks of
    lines the reader kept in their buffers (:meth:`~etlcore.source.SourceReader.read_blocks`)."""
    if task.records is not None:
        records = task.records
        for i in range(0, len(records), STREAM_CHUNK):
            yield records[i:i + STREAM_CHUNK]
    elif task.source is not None and task.source[1] != task.source[2]:
        partition, start, end = task.source
        reader = env.reader(program, task.stage)
        pieces = reader.read_blocks(partition, start, end) if blocks else None
        if pieces is not None:
            for piece in pieces:
                if isinstance(piece, LineBlock):
                    yield piece
                    continue
                for i in range(0, len(piece), STREAM_CHUNK):
                    yield piece[i:i + STREAM_CHUNK]
            return
        it = iter(reader.read(partition, start, end))
        while chunk := list(islice(it, STREAM_CHUNK)):
            yield chunk


def _lines_lead(stage: Stage) -> Member | None:
    """The stage's first member when it reads the source alone and parses lines out of a
    buffer (``parse_json``, alone or fused with the steps after it)."""
    if not stage.members:
        return None
    first = stage.members[0]
    if first.inputs != [stage.root] or getattr(first.node, "lines", None) is None:
        return None
    return first


def _apply_block(member: Member, block: LineBlock, ctx: TaskContext, param: Any) -> list[Any]:
    node = member.node
    assert node is not None
    return node.apply_lines(block, ctx, param)  # type: ignore[attr-defined, no-any-return]


def _apply_pieces(stage: Stage, member: Member, pieces: Iterable[LineBlock | list[Any]],
                  ctx: TaskContext, param: Any, result: TaskResult) -> list[Any]:
    """``member`` over the reader's blocks and lists, in order: a block parsed where it
    lies, a list as records. An operator that is not per record (fused with a
    ``map_partitions``) sees the partition once, so it gets every piece's records."""
    node = member.node
    assert node is not None
    pieces = list(pieces)
    if not (getattr(node, "per_record", False)
            or (len(pieces) == 1 and isinstance(pieces[0], LineBlock))):
        records: list[Any] = []
        for piece in pieces:
            records.extend(piece.lines() if isinstance(piece, LineBlock) else piece)
        result.records_in += len(records)
        return node.apply(_reject(stage, records, ctx), ctx, param)
    out: list[Any] | None = None
    for piece in pieces:
        if isinstance(piece, LineBlock):
            part = _apply_block(member, piece, ctx, param)
            result.records_in += piece.count  # counted by the decoder as it went
        else:
            result.records_in += len(piece)
            part = node.apply(_reject(stage, piece, ctx), ctx, param)
        if out is None:
            out = part
        else:
            out.extend(part)
    return [] if out is None else out


def _lines_member(stage: Stage, task: Task) -> Member | None:
    """The member that may read this task's source range as a block of lines: a worker
    read whose only consumer is an operator that parses lines out of a buffer."""
    if task.source is None or task.source[1] == task.source[2] or task.records is not None:
        return None
    root = stage.root
    readers = [m for m in stage.members if root in m.inputs]
    if len(readers) != 1 or any(ex.node == root for ex in stage.exits):
        return None
    first = readers[0]
    if first.inputs != [root] or getattr(first.node, "lines", None) is None:
        return None
    return first


def _folds(program: Program, stage: Stage, task: Task,
           ctx: TaskContext) -> dict[str, tuple[int, MapFold]]:
    """Member key -> (shuffle exit, fold) for each operator whose only reader is a shuffle
    into a wide operator that folds its map side (``WideNode.map_fold``: a map-side
    combine). Such a member's output is never a list: ``flat_map(str.split)`` before
    ``count_by_value`` counts each word as the split makes it, in one pass over the
    partition, and the word is freed right after (building and walking the list of a
    partition's words was about a sixth of W1's CPU on the local runner)."""
    if not any(ex.kind == "shuffle" for ex in stage.exits):
        return {}
    readers: dict[str, int] = {}
    for m in stage.members:
        for key in m.inputs:
            readers[key] = readers.get(key, 0) + 1
    for ex in stage.exits:
        readers[ex.node] = readers.get(ex.node, 0) + 1
    members = {m.key for m in stage.members if m.node is not None}
    out: dict[str, tuple[int, MapFold]] = {}
    for ex in stage.exits:
        if ex.kind != "shuffle" or ex.node not in members or readers[ex.node] != 1:
            continue
        fold = program.consumers[ex.target].map_fold(
            ex.side, task.shuffle_n[ex.target], task.params.get(ex.target), ctx)
        if fold is not None:
            out[ex.node] = (ex.id, fold)
    return out


def _execute(program: Program, env: WorkerEnv, task: Task) -> TaskResult:
    stage = program.stages[task.stage]
    ctx = TaskContext(task.info, task.index)
    result = TaskResult(task.stage, task.part)
    vals: dict[str, list[list[Any]] | None] = {}
    where = stage.root
    try:
        at = [where]
        try:
            if _streamable(stage, task) and _stream(program, env, task, stage, ctx, result, at):
                return _finish(result, ctx)
        finally:
            where = at[0]
        if stage.kind == "source":
            first = _lines_member(stage, task)
            pieces = None
            if first is not None:
                assert task.source is not None
                pieces = env.reader(program, task.stage).read_blocks(*task.source)
            if pieces is not None and first is not None:
                where = first.key  # the source's only reader parses the lines in their buffer
                out = _apply_pieces(stage, first, pieces, ctx, task.params.get(first.key),
                                    result)
                vals[first.key] = [out]
                result.records_out[first.key] = len(out)
                vals[stage.root] = None  # read by no one else (_lines_member)
            else:
                vals[stage.root] = [_read(program, env, task, ctx, result)]
        else:
            wide = stage.wide
            assert wide is not None
            state = task.state
            if wide.stateful and program.encode_state:
                state = (wide.first_state(task.part) if state is None
                         else wide.decode_state(state))
            out, state = wide.reduce_side(task.part, task.inputs or [None],
                                          state, task.params.get(stage.root), ctx)
            if task.emits:
                result.records_out[stage.root] = len(out)
            if wide.stateful:
                result.state_len = wide.state_len(state)
                result.state = wide.encode_state(state) if program.encode_state else state
            vals[stage.root] = [out] if task.emits else None
        folds = _folds(program, stage, task, ctx)
        folded: dict[int, list[Any]] = {}  # exit id -> blocks of a member folded as it ran
        for m in stage.members:
            if m.key in vals:  # run on the source's lines already
                continue
            where = m.key
            if m.node is None:  # a union: its in-stage inputs side by side
                ins = [vals[k] for k in m.inputs]
                present = [p for p in ins if p is not None]
                vals[m.key] = [part for p in present for part in p] if present else None
                continue
            parts = vals[m.inputs[0]]
            param = task.params.get(m.key)
            if parts is None:
                vals[m.key] = None
                continue
            into = folds.get(m.key)
            if into is not None:  # its only reader folds: its records are folded as made
                ex_id, fold = into
                result.records_out[m.key] = sum(fold.add(m.node.stream(p, ctx, param))
                                                for p in parts)
                folded[ex_id] = fold.blocks()
                vals[m.key] = []  # read by no one else (_folds)
                continue
            applied = vals[m.key] = [m.node.apply(p, ctx, param) for p in parts]
            result.records_out[m.key] = sum(map(len, applied))
        for ex in stage.exits:
            where = ex.target
            parts = vals[ex.node]
            if ex.kind == "shuffle":
                if ex.id in folded:
                    result.shuffle[ex.id] = folded[ex.id]
                    continue
                if parts is None:
                    result.shuffle[ex.id] = None
                    continue
                consumer = program.consumers[ex.target]
                result.shuffle[ex.id] = consumer.map_side(
                    concat(parts), ex.side, task.shuffle_n[ex.target],
                    task.params.get(ex.target), ctx)
            elif task.state_only or parts is None:
                continue
            elif ex.kind == "sink":
                writer = env.writer(program, ex.target)
                base = task.sink_base[ex.id]
                messages = []
                began = time.perf_counter()
                for j, p in enumerate(parts):
                    if program.compact_rows:
                        p = as_tuple_rows(p)  # noqa: PLW2901 - the sink's view of p
                    message = _write(writer, task.info, base + j, p)
                    if isinstance(message, WriteResult):
                        for record, reason in message.rejected:
                            ctx.dead_letter(record, reason, f"sink '{ex.target}'",
                                            f"sink partition {base + j}")
                        message = message.message
                    messages.append((base + j, message))
                result.messages[ex.id] = messages
                result.write_s[ex.id] = time.perf_counter() - began
                result.written[ex.id] = sum(len(p) for p in parts)
            else:
                result.collected[ex.id] = parts
    except Exception as err:
        err.add_note(f"etlcore: in {where} (stage {task.stage}, partition {task.part}, "
                     f"batch {task.info.batch_id}, worker {env.worker})")
        raise
    return _finish(result, ctx)


def _finish(result: TaskResult, ctx: TaskContext) -> TaskResult:
    result.dead_letters = ctx.dead_letters
    result.late_records = ctx.late_records
    result.counters = ctx.counters
    return result
