"""The processes runner's pool: kept across jobs, a pipe per worker, records sent as they are."""

from __future__ import annotations

import array
import datetime
import os
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.connectors.queue import MemorySink
from etlcore.runners.processes import ProcessRunner, shutdown_pools
from etlcore.sink import Sink, SinkWriter
from etlcore.source import OffsetSource, SourceReader

Point = namedtuple("Point", "x y")


class Tag(str):
    """A str subclass: marshal refuses it, so it must travel by pickle and stay a Tag."""


def _run(name: str, batches: list[list[Any]], runner: Any, fn: Any) -> list[Any]:
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner)
    ctx.queue_stream(batches).map(fn).sink("memory", name=name)
    try:
        ctx.run(batches=len(batches))
        return [r for _, rows in sorted(MemorySink.batches(name).items()) for r in rows]
    finally:
        MemorySink.clear(name)


def _described(record: Any) -> tuple[str, Any]:
    return type(record).__name__, record


def test_records_of_any_type_reach_workers_unchanged():
    batches = [
        ["plain", "ünïcode", "", 3, 2.5, -0.0, None, True, (1, "a"), [1, [2]], {"k": b"v"}],
        [Point(1, 2), Tag("t"), datetime.date(2026, 12, 4), "mixed after"],  # pickle's
        [float("inf"), 10**30, b"\x00bytes", frozenset({1})],
        # marshal would write these as bytes (buffer protocol): they must go by pickle
        [bytearray(b"ba"), ("t", array.array("i", [1, 2])), {"k": bytearray(b"v")}],
    ]
    want = _run("pool-types-local", batches, "local", _described)
    got = _run("pool-types-procs", batches, ProcessRunner(workers=2), _described)
    assert got == want
    assert ("Point", Point(1, 2)) in got and ("Tag", "t") in got
    assert ("bytearray", bytearray(b"ba")) in got


def _value_types(kv: tuple[Any, list[Any]]) -> tuple[Any, list[str]]:
    return kv[0], sorted(type(v).__name__ for v in kv[1])


def test_shuffle_blocks_keep_their_types():
    # the map side's blocks come back to the driver: plain ones marshalled, these pickled
    def job(name: str, runner: Any) -> list[Any]:
        batches = [[("a", b"1"), ("b", 2)], [("a", bytearray(b"2")), ("a", b"3")]]
        ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner, parallelism=2)
        ctx.queue_stream(batches).group_by_key().map(_value_types).sink("memory", name=name)
        try:
            ctx.run(batches=len(batches))
            return sorted(r for rows in MemorySink.batches(name).values() for r in rows)
        finally:
            MemorySink.clear(name)

    got = job("pool-blocks-procs", ProcessRunner(workers=2))
    assert got == job("pool-blocks-local", "local")
    assert ("a", ["bytearray", "bytes"]) in got


def _shape(record: Any) -> tuple[bool, bool]:
    """(a list that holds itself, a list whose two items are one object)."""
    return record[0] is record, record[1] is record[2]


def test_a_record_that_holds_itself_travels_by_pickle():
    cyclic: list[Any] = []
    cyclic.extend([cyclic, [1], [1]])
    shared: list[Any] = [None, [1]]
    shared.append(shared[1])
    # marshal (the fast path) refuses the cycle, so the batch goes by pickle, which
    # keeps both the cycle and the sharing; the second batch is plain values: marshal
    got = _run("pool-cycle", [[cyclic, shared], [[0, [1], [1]]]], ProcessRunner(workers=1),
               _shape)
    assert got == [(True, False), (False, True), (False, False)]


def _only_ints(record: Any) -> int:
    if type(record) is not int:
        raise ValueError(f"not an int: {record!r}")
    return record


def _letters(name: str, runner: Any) -> list[tuple[Any, ...]]:
    # batch 0's letters are plain values (marshalled columns); batch 1's hold records
    # marshal refuses (a str subclass, a namedtuple), so they come back pickled
    # (batch 2: a bytearray, which marshal would turn into bytes without a word)
    batches = [["a", 1, ("t", [2.5, None])], [Tag("x"), 3, Point(1, 2)], [bytearray(b"b"), 4]]
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=runner)
    ctx.queue_stream(batches).map(_only_ints, on_error="dead_letter").sink("memory", name=name)
    try:
        ctx.run(batches=len(batches))
    finally:
        MemorySink.clear(name)
    return [(d["batch_id"], type(d["record"]).__name__, d["record"], d["reason"], d["stage"],
             d.get("origin")) for d in ctx.dead_letters]


def test_dead_letters_come_back_from_workers_as_the_local_runner_keeps_them():
    want = _letters("pool-letters-local", "local")
    got = _letters("pool-letters-procs", ProcessRunner(workers=2))
    assert sorted(got, key=repr) == sorted(want, key=repr)
    assert sorted(t[1] for t in got) == ["Point", "Tag", "bytearray", "str", "tuple"]


def _churn(_: Any) -> tuple[int, int, int]:
    """Fill and free ~20 MiB of small objects; then the worker's arena cache counts."""
    from etlcore._fast import arenas_c

    junk = [(i, str(i)) for i in range(150_000)]
    del junk
    return arenas_c.stats()


def test_workers_keep_freed_arenas_for_the_next_task():
    from etlcore import _fast

    if not _fast.COMPILED:
        pytest.skip("ETLCORE_PURE_PYTHON=1: workers use arenas_ref, which caches nothing")
    (first, limit, _), (cached, _, reused) = _run(
        "pool-arenas", [[0, 1]], ProcessRunner(workers=1, keep_pool=False), _churn)
    assert limit > 0  # installed in the worker
    assert first > 0  # the first record's arenas went to the cache, not back to the OS
    assert reused > 0 and cached > 0  # the second record took arenas from it


def _pid(_: Any) -> int:
    return os.getpid()


def test_the_next_job_takes_over_the_pool_and_shutdown_ends_it():
    first = set(_run("pool-a", [[1, 2, 3]], ProcessRunner(workers=2), _pid))
    second = set(_run("pool-b", [[1, 2, 3]], ProcessRunner(workers=2), _pid))
    assert first == second  # the same worker processes, not new ones
    shutdown_pools()
    third = set(_run("pool-c", [[1, 2, 3]], ProcessRunner(workers=2), _pid))
    assert not third & first
    own = set(_run("pool-d", [[1]], ProcessRunner(workers=2, keep_pool=False), _pid))
    assert not own & third  # keep_pool=False: a pool of its own, ended at stop
    for pid in own:
        _gone(pid)


def _gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
        assert time.monotonic() < deadline, f"worker {pid} still runs after its job stopped"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


class PartSource(OffsetSource):
    """Two partitions, one record per batch each: the partition's name."""

    def partitions(self) -> list[str]:
        return ["0", "1"]

    def available(self, partition: str) -> int:
        return 5

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        return min(5, start + 1)

    def reader(self) -> SourceReader:
        return PartReader()


class PartReader(SourceReader):
    def read(self, partition: str, start: int, end: int) -> list[Any]:
        return [partition] * (end - start)


def test_a_partition_runs_on_the_same_worker_every_batch():
    name = "pool-affinity"
    ctx = StreamingContext(1.0, clock="manual", name=name, runner=ProcessRunner(workers=2))
    ctx.stream(PartSource(), name="parts").map(lambda p: (p, os.getpid())).sink(
        "memory", name=name)
    try:
        ctx.run(batches=5)
        rows = [r for rows in MemorySink.batches(name).values() for r in rows]
    finally:
        MemorySink.clear(name)
    pids = {part: {pid for p, pid in rows if p == part} for part in ("0", "1")}
    assert len(rows) == 10
    assert len(pids["0"]) == 1 and len(pids["1"]) == 1 and pids["0"] != pids["1"]


class MarkWriter(SinkWriter):
    def __init__(self, marker: str):
        self.marker = marker

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        return len(records)

    def close(self) -> None:
        part = Path(self.marker + ".part")
        part.write_text(str(os.getpid()))
        part.rename(self.marker)  # whole, for the test that waits for it


class MarkSink(Sink):
    def __init__(self, marker: str):
        self.marker = marker

    def writer(self) -> SinkWriter:
        return MarkWriter(self.marker)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        pass


def test_a_kept_worker_closes_the_writers_of_a_finished_job(tmp_path):
    marker = tmp_path / "closed"
    ctx = StreamingContext(1.0, clock="manual", name="pool-close",
                           runner=ProcessRunner(workers=1))
    ctx.queue_stream([[1, 2], [3]]).to(MarkSink(str(marker)), name="mark")
    ctx.run(batches=2)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the job's writer was never closed"
        time.sleep(0.05)
    assert int(marker.read_text()) != os.getpid()  # closed on the worker


class Picky(Exception):
    """Raised with two arguments, rebuilt from one: it does not survive a pickle round trip."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code}: {text}")


def _picky(n: int) -> int:
    raise Picky(n, "no")


def test_an_error_not_rebuilt_on_the_driver_is_reported_and_the_pool_goes_on():
    import pytest

    from etlcore.errors import EtlcoreError

    ctx = StreamingContext(1.0, clock="manual", name="pool-picky", runner=ProcessRunner(2))
    ctx.queue_stream([[1]]).map(_picky).sink("memory", name="pool-picky")
    with pytest.raises(EtlcoreError, match=r"partition 0 could not be read: TypeError"):
        ctx.run(batches=1)
    MemorySink.clear("pool-picky")
    assert _run("pool-after-picky", [[1, 2]], ProcessRunner(workers=2), _described) == [
        ("int", 1), ("int", 2)]
