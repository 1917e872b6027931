"""A checkpoint refuses what it cannot replay faithfully, naming the file at fault.

Before, an edited commit position or a snapshot missing an operator (with a
valid CRC) was accepted, and a damaged manifest line, side file or state gave
a bare JSONDecodeError / ValueError naming nothing.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import msgpack
import pytest

from etlcore import StreamingContext
from etlcore.checkpoint import seal, unseal
from etlcore.errors import CheckpointError

from .conftest import drop

BATCHES = [[("a", 1)], [("b", 2)], [("a", 3)], [("c", 4)], [("a", 5)]]


def build(ckpt: Path, sink: str) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="job", checkpoint_interval=2)
    s = ctx.queue_stream(BATCHES)
    s.window(2).sink("memory", name=sink)
    s.update_state_by_key(_add).sink("memory", name=sink + "-totals")
    return ctx


def _add(new, old):
    return (old or 0) + sum(v for v in new)


def commit(ckpt: Path, batch: int) -> Path:
    return ckpt / "commits" / f"{batch:012d}.json"


def state(ckpt: Path, batch: int) -> Path:
    return ckpt / "state" / f"{batch:012d}.state"


@pytest.fixture
def ckpt(tmp_path, sink_name):
    build(tmp_path, sink_name).run(batches=4)
    return tmp_path


def refused(ckpt: Path, sink: str) -> str:
    with pytest.raises(CheckpointError) as err:
        build(ckpt, sink).run(batches=1)
    return str(err.value)


def test_an_edited_commit_position_is_refused(ckpt, sink_name):
    entry = json.loads(commit(ckpt, 3).read_text())
    entry["positions"]["queue-1"]["0"] = 2  # "resume at 2": batches 2 and 3 again
    commit(ckpt, 3).write_text(json.dumps(entry))
    message = refused(ckpt, sink_name)
    assert message == (f"corrupt checkpoint file {commit(ckpt, 3)}: checksum mismatch (the file "
                       "was edited or damaged)")


def test_an_edited_commit_with_a_recomputed_checksum_is_refused_too(ckpt, sink_name):
    entry = unseal(commit(ckpt, 3).read_bytes(), "commit")
    entry["positions"]["queue-1"]["0"] = 2
    commit(ckpt, 3).write_bytes(seal(entry))
    message = refused(ckpt, sink_name)
    assert message.startswith(f"corrupt commit 3 ({commit(ckpt, 3)}): its positions "
                              '{"queue-1": {"0": 2}} are not where its plan')


def test_a_snapshot_missing_an_operator_is_refused(ckpt, sink_name):
    body = msgpack.packb({"window-1": {"driver": None, "parts": [[[["a", 1]], [["b", 2]]]]}})
    header = b"ETLS1" + b"msgpack".ljust(8) + zlib.crc32(body).to_bytes(4, "big")
    state(ckpt, 3).write_bytes(header + body)  # a valid CRC, one operator short
    assert refused(ckpt, sink_name) == (f"corrupt state snapshot {state(ckpt, 3)}: no state "
                                        "for operator(s) 'update_state_by_key-1', which the "
                                        "checkpoint's job has")


def test_malformed_state_names_the_snapshot(ckpt, sink_name):
    body = msgpack.packb({"window-1": {"driver": None, "parts": [5]},
                          "update_state_by_key-1": {"driver": None, "parts": [7]}})
    header = b"ETLS1" + b"msgpack".ljust(8) + zlib.crc32(body).to_bytes(4, "big")
    state(ckpt, 3).write_bytes(header + body)
    message = refused(ckpt, sink_name)
    assert message.startswith(f"corrupt state snapshot {state(ckpt, 3)}: TypeError")


def test_a_damaged_plan_is_refused_naming_it(ckpt, sink_name):
    commit(ckpt, 3).unlink()  # batch 3 is pending: its plan is read
    plan = ckpt / "plans" / f"{3:012d}.json"
    plan.write_bytes(plan.read_bytes().replace(b'"batch_time":4.0', b'"batch_time":5.0'))
    assert refused(ckpt, sink_name) == (f"corrupt checkpoint file {plan}: checksum mismatch "
                                        "(the file was edited or damaged)")


def test_a_corrupt_manifest_line_names_the_file_and_line(tmp_path, sink_name):
    def job() -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="dir")
        ctx.source("directory", path=str(tmp_path / "in")).sink("memory", name=sink_name)
        return ctx

    drop(tmp_path / "in", "a.txt", b"a\n", mtime=1)
    drop(tmp_path / "in", "b.txt", b"b\n", mtime=2)
    job().run(until_idle=True)
    manifest = tmp_path / "ckpt" / "sources" / "directory-1" / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(lines[0] + lines[1].replace(b"b.txt", b"c.txt"))
    with pytest.raises(CheckpointError) as err:
        job().run(until_idle=True)
    assert str(err.value) == (f"corrupt checkpoint file {manifest}, line 2: checksum mismatch "
                              "(the file was edited or damaged)")
    manifest.write_bytes(lines[0] + b"{not json\n")
    with pytest.raises(CheckpointError, match=rf"{manifest}, line 2: Expecting"):
        job().run(until_idle=True)


def test_a_corrupt_generator_start_time_names_the_file(tmp_path, sink_name):
    def job() -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path, clock="manual", name="gen")
        ctx.source("generator", kind="clicks", rate=5).sink("memory", name=sink_name)
        return ctx

    job().run(batches=1)
    side = tmp_path / "sources" / "generator-1" / "generator.json"
    side.write_text('{"start_time": "soon"}')
    with pytest.raises(CheckpointError, match=f"corrupt checkpoint file {side}: no checksum"):
        job().run(batches=1)


def test_an_edited_epoch_stops_the_job_naming_the_file(tmp_path):
    """A sink keyed by the epoch (sqlite append) would store every batch again under a new one."""
    db, ckpt = tmp_path / "out.db", tmp_path / "ckpt"

    def job() -> StreamingContext:
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="epochs")
        ctx.queue_stream([[{"x": 1}], [{"x": 2}]]).sink("sqlite", path=str(db), table="t",
                                                         mode="append")
        return ctx

    job().run(until_idle=True)
    path = ckpt / "epoch.json"
    sealed = unseal(path.read_bytes(), str(path))
    path.write_bytes(seal(sealed).replace(sealed["epoch"].encode(), b"f" * 32))
    with pytest.raises(CheckpointError, match=f"corrupt checkpoint file {path}: checksum"):
        job().run(until_idle=True)
