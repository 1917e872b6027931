"""A damaged or foreign checkpoint stops the job with a CheckpointError that names the file.

tests/core/test_checkpoint.py covers metadata, foreign jobs, changed operators and a
flipped state byte; these cover the logs and the rest of the snapshot.
"""

from __future__ import annotations

import json

import pytest

from etlcore import StreamingContext
from etlcore.checkpoint import seal
from etlcore.connectors.queue import MemorySink
from etlcore.errors import CheckpointError

BATCHES = [[("a", 1)], [("b", 2)], [("a", 3)], [("c", 4)], [("a", 5)]]


def build(path, name="corrupt"):
    MemorySink.clear(name)
    ctx = StreamingContext(1.0, path, clock="manual", name="job", checkpoint_interval=2)
    (ctx.queue_stream(BATCHES).update_state_by_key(lambda new, old: (old or 0) + sum(new))
        .sink("memory", name=name))
    return ctx


def plan(path, batch_id):
    return path / "plans" / f"{batch_id:012d}.json"


def commit(path, batch_id):
    return path / "commits" / f"{batch_id:012d}.json"


@pytest.fixture
def ckpt(tmp_path):
    build(tmp_path).run(batches=4)
    return tmp_path


def test_truncated_pending_plan(ckpt):
    commit(ckpt, 3).unlink()  # batch 3 is now pending: its plan must be read
    data = plan(ckpt, 3).read_bytes()
    plan(ckpt, 3).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"corrupt checkpoint file .*000000000003\.json"):
        build(ckpt).run(batches=1)


def test_plan_that_is_json_but_not_a_plan(ckpt):
    commit(ckpt, 3).unlink()
    plan(ckpt, 3).write_text(json.dumps(["not", "a", "plan"]))
    with pytest.raises(CheckpointError, match=r"000000000003\.json: no checksum"):
        build(ckpt).run(batches=1)
    plan(ckpt, 3).write_bytes(seal({"batch_id": 3, "ranges": "nowhere"}))  # checksum fine
    with pytest.raises(CheckpointError, match="corrupt batch plan 3"):
        build(ckpt).run(batches=1)


def test_garbage_commit_file(ckpt):
    commit(ckpt, 3).write_bytes(b"\x00\xffgarbage")
    with pytest.raises(CheckpointError, match=r"corrupt checkpoint file .*commits"):
        build(ckpt).run(batches=1)


def test_commit_without_positions(ckpt):
    commit(ckpt, 3).write_bytes(seal({"batch_id": 3}))
    with pytest.raises(CheckpointError, match="corrupt commit 3"):
        build(ckpt).run(batches=1)


def test_plan_log_with_a_gap(ckpt):
    plan(ckpt, 6).write_text(plan(ckpt, 3).read_text())
    with pytest.raises(CheckpointError, match="planned batch 6 but the last commit is 3"):
        build(ckpt).run(batches=1)


def test_three_plans_past_the_last_commit(ckpt):
    for b in (1, 2, 3):  # committing behind leaves at most two open plans (0 is pruned)
        commit(ckpt, b).unlink()
    with pytest.raises(CheckpointError, match="planned batch 3 but the last commit is -1"):
        build(ckpt).run(batches=1)


def test_two_open_plans_with_one_missing(ckpt):
    commit(ckpt, 2).unlink()
    commit(ckpt, 3).unlink()
    plan(ckpt, 2).unlink()
    with pytest.raises(CheckpointError, match="planned batch 3 but the last commit is 1"):
        build(ckpt).run(batches=1)


def test_truncated_state_snapshot(ckpt):
    state = ckpt / "state" / f"{3:012d}.state"
    state.write_bytes(state.read_bytes()[:10])
    with pytest.raises(CheckpointError, match="bad header"):
        build(ckpt).run(batches=1)


def test_snapshot_written_with_another_codec(ckpt):
    state = ckpt / "state" / f"{3:012d}.state"
    data = state.read_bytes()
    state.write_bytes(data[:5] + b"pickle  " + data[13:])
    with pytest.raises(CheckpointError, match="uses codec 'pickle'"):
        build(ckpt).run(batches=1)


def test_logs_without_metadata_are_not_a_checkpoint(ckpt):
    (ckpt / "metadata.json").unlink()
    with pytest.raises(CheckpointError, match="no metadata.json"):
        build(ckpt).run(batches=1)


def test_state_for_another_partition_count(ckpt):
    MemorySink.clear("corrupt")
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="job", checkpoint_interval=2,
                           parallelism=3)
    (ctx.queue_stream(BATCHES).update_state_by_key(lambda new, old: (old or 0) + sum(new))
        .sink("memory", name="corrupt"))
    with pytest.raises(CheckpointError, match="different version of job") as err:
        ctx.run(batches=1)
    assert "operator 'update_state_by_key-1': partitions 1 -> 3" in str(err.value)


def test_undamaged_checkpoint_resumes(ckpt):
    build(ckpt, "resumed").run(batches=1)
    assert dict(MemorySink.batches("resumed")[4]) == {"a": 9, "b": 2, "c": 4}
