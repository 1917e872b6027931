"""The checkpoint directory: recovery replays the pending batch, refuses foreign dirs."""

import json

import pytest

from etlcore import StreamingContext
from etlcore.checkpoint import Checkpoint
from etlcore.connectors.queue import MemorySink, QueueSource, QueueSourceConfig
from etlcore.errors import CheckpointError
from etlcore.source import SourceContext

BATCHES = [[("a", 1)], [("a", 2), ("b", 1)], [("b", 5)], [("a", 1)], [("c", 9)]]


def build(path, name, interval=2):
    ctx = StreamingContext(1.0, path, clock="manual", name="job", checkpoint_interval=interval)
    s = ctx.queue_stream(BATCHES)
    s.reduce_by_key_and_window("sum", None, length=3).sink("memory", name=name)
    return ctx


def test_restart_resumes_after_the_last_commit(tmp_path, sink_name):
    build(tmp_path, sink_name).run(batches=3)
    build(tmp_path, sink_name).run(batches=2)
    expected_name = sink_name + "-ref"
    MemorySink.clear(expected_name)
    ctx = StreamingContext(1.0, clock="manual")
    ctx.queue_stream(BATCHES).reduce_by_key_and_window("sum", None, length=3).sink(
        "memory", name=expected_name)
    ctx.run(batches=5)
    assert MemorySink.batches(sink_name) == MemorySink.batches(expected_name)


def test_crash_between_plan_and_commit_replays_the_same_plan(tmp_path, sink_name):
    build(tmp_path, sink_name).run(batches=4)
    # as if the process died after logging batch 3's plan, before its commit
    (tmp_path / "commits" / f"{3:012d}.json").unlink()
    plan_before = json.loads((tmp_path / "plans" / f"{3:012d}.json").read_text())
    build(tmp_path, sink_name).run(batches=1)
    plan_after = json.loads((tmp_path / "plans" / f"{3:012d}.json").read_text())
    assert plan_before == plan_after
    batches = MemorySink.batches(sink_name)
    assert sorted(batches) == [0, 1, 2, 3, 4]
    assert dict(batches[3]) == {"a": 3, "b": 6}  # state rebuilt from the snapshot + replay
    assert dict(batches[4]) == {"a": 1, "b": 5, "c": 9}


def test_foreign_checkpoint_is_refused(tmp_path, sink_name):
    build(tmp_path, sink_name).run(batches=1)
    other = StreamingContext(1.0, tmp_path, clock="manual", name="other-job")
    other.queue_stream([[1]]).sink("memory", name=sink_name)
    with pytest.raises(CheckpointError, match="belongs to job 'job'"):
        other.run(batches=1)


def test_changed_operators_are_refused(tmp_path, sink_name):
    build(tmp_path, sink_name).run(batches=1)
    ctx = StreamingContext(1.0, tmp_path, clock="manual", name="job")
    ctx.queue_stream(BATCHES).window(2).sink("memory", name=sink_name)
    with pytest.raises(CheckpointError, match="different version of job 'job'") as err:
        ctx.run(batches=1)
    assert "operator 'reduce_by_key_and_window-1' was removed" in str(err.value)
    assert "operator 'window-1' was added" in str(err.value)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "metadata.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not an etlcore checkpoint"):
        Checkpoint(tmp_path, "job", []).open()
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        Checkpoint(tmp_path, "job", []).open()


def test_newer_format_is_refused(tmp_path):
    (tmp_path / "metadata.json").write_text(
        json.dumps({"format": "etlcore-checkpoint", "version": 99, "job": "job", "graph": []}))
    with pytest.raises(CheckpointError, match="format 99"):
        Checkpoint(tmp_path, "job", []).open()


def test_format_1_checkpoints_are_refused_with_a_reason(tmp_path):
    """What this week's etlcore wrote: keys-only fingerprint, logs without checksums."""
    (tmp_path / "metadata.json").write_text(json.dumps(
        {"format": "etlcore-checkpoint", "version": 1, "job": "job",
         "graph": ["queue-1", "window-1"], "state_codec": "msgpack", "created": 1.0}))
    with pytest.raises(CheckpointError, match=r"older etlcore \(checkpoint format 1\)"):
        Checkpoint(tmp_path, "job", {}).open()


def test_corrupt_state_snapshot_is_detected(tmp_path, sink_name):
    build(tmp_path, sink_name, interval=1).run(batches=2)
    snap = sorted((tmp_path / "state").glob("*.state"))[-1]
    data = bytearray(snap.read_bytes())
    data[-1] ^= 0xFF
    snap.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        build(tmp_path, sink_name, interval=1).run(batches=1)


def test_unserialisable_state_names_the_type(tmp_path, sink_name):
    ctx = StreamingContext(1.0, tmp_path, clock="manual", name="job", checkpoint_interval=1)
    ctx.queue_stream([[object()]]).window(2).sink("memory", name=sink_name)
    with pytest.raises(CheckpointError, match="builtins.object"):
        ctx.run(batches=1)


class _Told(QueueSource):
    """Keeps the context each open was given."""

    told: list[SourceContext] = []

    def open(self, ctx: SourceContext) -> None:
        _Told.told.append(ctx)
        super().open(ctx)


def _told_job(path, runner: str = "local") -> StreamingContext:
    ctx = StreamingContext(1.0, path, clock="manual", name="told", runner=runner)
    ctx.stream(_Told(QueueSourceConfig(batches=[[1], [2], [3], [4]])), name="in").sink("memory", name="told-out")
    return ctx


def test_a_source_is_told_where_its_first_reads_start_before_any_plan(tmp_path):
    """At open the engine tells a source where the checkpoint resumes each partition (a
    pending plan's start, which is replayed first, else the committed end) and whether
    its readers run in this process, so that it can start fetching before the first plan."""
    _Told.told = []
    _told_job(tmp_path).run(batches=2)
    _told_job(tmp_path).run(batches=1)
    assert [t.resume for t in _Told.told] == [{}, {"0": 2}]
    assert all(t.readers_here for t in _Told.told)
    # as if batch 3 was planned and the process died before its commit
    (tmp_path / "commits" / f"{2:012d}.json").unlink()
    recovery = Checkpoint(tmp_path, "told", None).recover()
    assert recovery.positions == {"in": {"0": 3}}  # the next new batch starts at its end
    _told_job(tmp_path).run(batches=1)
    assert _Told.told[-1].resume == {"0": 2}  # the replayed plan's start


def test_a_runner_that_ships_readers_says_so_at_open(tmp_path):
    _Told.told = []
    _told_job(tmp_path, runner="processes").run(batches=1)
    assert [t.readers_here for t in _Told.told] == [False]
