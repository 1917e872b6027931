"""The checkpoint epoch: one per checkpoint, the same on driver and workers."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context

import pytest

from etlcore import BatchInfo, StreamingContext
from etlcore.checkpoint import seal, unseal
from etlcore.errors import CheckpointError
from etlcore.plugin.epoch import EPOCH_FILE, checkpoint_epoch
from etlcore.sink import SinkContext, WriterContext


def test_created_once_and_kept(tmp_path):
    ckpt = tmp_path / "ckpt"
    first = SinkContext("s", "job", ckpt).epoch
    assert first and len(first) == 32
    assert SinkContext("other", "job", ckpt).epoch == first
    assert WriterContext("s", "job", str(ckpt), worker="process-1").epoch == first
    assert unseal((ckpt / EPOCH_FILE).read_bytes(), "epoch") == {"epoch": first}
    assert SinkContext("s", "job", tmp_path / "new").epoch != first
    assert SinkContext("s", "job").epoch is None and WriterContext("s", "job").epoch is None
    assert [p.name for p in ckpt.iterdir()] == [EPOCH_FILE]  # no temp files left


def test_racing_creators_agree(tmp_path):
    ckpt = str(tmp_path / "ckpt")
    with ThreadPoolExecutor(8) as pool:
        threads = set(pool.map(checkpoint_epoch, [ckpt] * 32))
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        procs = set(pool.map(checkpoint_epoch, [ckpt] * 4))
    assert len(threads) == 1 and procs == threads


@pytest.mark.parametrize(("content", "why"), [
    (b"{", "Expecting property name"),
    (b"", "Expecting value"),
    (json.dumps({"epoch": "0" * 32}).encode(), "no checksum"),  # unsealed: edited by hand
    (seal({"epoch": "a" * 32}).replace(b"a" * 32, b"b" * 32), "checksum mismatch"),
    (seal({"epoch": ""}), "no epoch"),
    (seal({"token": "x"}), "no epoch"),
])
def test_a_corrupt_epoch_is_refused_naming_the_file(tmp_path, content, why):
    """A damaged epoch read as another one would make sinks store batches again."""
    path = tmp_path / EPOCH_FILE
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        checkpoint_epoch(tmp_path)
    assert str(err.value).startswith(f"corrupt checkpoint file {path}: ")
    assert why in str(err.value)
    assert path.read_bytes() == content  # refused, not replaced


def test_the_epoch_file_is_sealed(tmp_path):
    """Written with a checksum, like the plan and commit files."""
    epoch = checkpoint_epoch(tmp_path)
    assert (tmp_path / EPOCH_FILE).read_bytes() == seal({"epoch": epoch})


def test_state_dir_is_per_sink(tmp_path):
    ctx = SinkContext("files-2", "job", tmp_path)
    assert ctx.state_dir() == tmp_path / "sinks" / "files-2" and ctx.state_dir().is_dir()
    assert WriterContext("files-2", "job", str(tmp_path)).state_dir() == ctx.state_dir()
    assert SinkContext("x", "job").state_dir() is None


def test_the_sqlite_sink_keys_its_batch_ids_by_epoch(tmp_path):
    """A new checkpoint stores again from batch 0; the same one skips what it stored."""
    from tests.connectors.protocol import write_and_commit
    from tests.connectors.test_sqlite import build, rows

    db = tmp_path / "out.db"
    for ckpt, value in (("a", 1), ("a", 2), ("b", 3)):
        sink = build(db, tmp_path / ckpt, table="t", mode="append")
        write_and_commit(sink, BatchInfo(0, 1.0), [[{"x": value}]])
        sink.close()
    assert rows(db, "SELECT x FROM t ORDER BY x") == [(1,), (3,)]
    epochs = {checkpoint_epoch(tmp_path / c) for c in "ab"}
    assert {s.rsplit("/", 1)[1] for (s,) in rows(db, "SELECT sink FROM _etlcore_commits")} == epochs


def test_sqlite_keeps_the_token_of_an_older_checkpoint(tmp_path):
    """Checkpoints from before ctx.epoch keep their per-sink token: no batch is stored twice."""
    from tests.connectors.protocol import write_and_commit
    from tests.connectors.test_sqlite import build, rows

    db, ckpt = tmp_path / "out.db", tmp_path / "ckpt"
    (ckpt / "sinks").mkdir(parents=True)
    (ckpt / "sinks" / "sqlite.json").write_text(json.dumps({"token": "old-token"}))
    sink = build(db, ckpt, table="t", mode="append")
    write_and_commit(sink, BatchInfo(0, 1.0), [[{"x": 1}]])
    assert rows(db, "SELECT sink FROM _etlcore_commits") == [("job/sqlite/old-token",)]
    assert not (ckpt / EPOCH_FILE).exists()


def test_a_job_creates_the_epoch_its_sinks_use(tmp_path):
    from tests.connectors.test_sqlite import rows

    ckpt, db = tmp_path / "ckpt", tmp_path / "a.db"
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="epochs")
    ctx.queue_stream([[{"x": 1}]]).sink("sqlite", path=str(db), table="t", mode="append")
    ctx.run(until_idle=True)
    assert rows(db, "SELECT sink FROM _etlcore_commits") == [
        (f"epochs/sqlite/{checkpoint_epoch(ckpt)}",)]
