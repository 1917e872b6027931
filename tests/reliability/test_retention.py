"""Deleting input files once their batch committed (the directory source allows it) is safe.

Before, a restart rebuilt keyed state by re-reading the committed batches since
the last snapshot, and failed with FileNotFoundError when their files were gone.
The directory source now declares ``input_retained = False``, so the engine
snapshots state at every commit and recovery never reads committed input.
"""

from __future__ import annotations

from pathlib import Path

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink

from .conftest import drop


def counting(inbox: Path, ckpt: Path | None, sink: str) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="words", checkpoint_interval=10)
    words = ctx.source("directory", path=str(inbox), max_files_per_batch=1)
    (words.map(lambda w: (w, 1)).update_state_by_key(lambda new, old: (old or 0) + sum(new))
        .sink("memory", name=sink))
    return ctx


def test_a_restart_after_deleting_committed_files(tmp_path, sink_name):
    inbox, ckpt = tmp_path / "in", tmp_path / "ckpt"
    for i, text in enumerate([b"a\nb\n", b"a\n", b"c\na\n"]):
        drop(inbox, f"{i}.txt", text, mtime=i + 1)
    counting(inbox, ckpt, sink_name).run(until_idle=True)
    assert sorted((ckpt / "state").iterdir())  # snapshots although the interval is 10
    for f in inbox.iterdir():
        f.unlink()  # processed: the docs allow it
    drop(inbox, "3.txt", b"b\na\n", mtime=10)
    counting(inbox, ckpt, sink_name).run(until_idle=True)
    last = max(MemorySink.batches(sink_name))
    assert dict(MemorySink.batches(sink_name)[last]) == {"a": 4, "b": 2, "c": 1}


def test_a_file_gone_before_its_batch_committed_is_a_dead_letter(tmp_path, sink_name):
    inbox, ckpt = tmp_path / "in", tmp_path / "ckpt"
    drop(inbox, "0.txt", b"a\n", mtime=1)
    drop(inbox, "1.txt", b"b\n", mtime=2)
    counting(inbox, ckpt, sink_name).run(batches=2)
    (ckpt / "commits" / f"{1:012d}.json").unlink()  # as if the job died before committing 1
    (inbox / "1.txt").unlink()  # ... and the file was deleted anyway
    ctx = counting(inbox, ckpt, sink_name)
    ctx.run(batches=1)
    [letter] = ctx.dead_letters
    assert letter["reason"] == ("file removed before the batch that reads it committed "
                                "(delete files only after their batch's commit)")
    assert letter["origin"] == f"{inbox / '1.txt'} (manifest entry 1)"
