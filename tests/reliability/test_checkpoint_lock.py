"""One job per checkpoint: a second run is refused before it writes anything.

Before, two processes on one checkpoint both ran: both appended every input
file to the directory source's manifest (the next restart read each file
twice), and the first crashed on the other's temp file name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.checkpoint import Checkpoint
from etlcore.connectors.queue import MemorySink
from etlcore.errors import CheckpointError

from .conftest import drop

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from etlcore import StreamingContext
ctx = StreamingContext(1.0, sys.argv[1], clock="manual", name="locked")
ctx.source("directory", path=sys.argv[2]).sink("memory")
ctx.open()
print("open", flush=True)
time.sleep(120)
"""


def directory_job(ckpt: Path, inbox: Path, sink: str) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="locked")
    ctx.source("directory", path=str(inbox)).sink("memory", name=sink)
    return ctx


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def holder(tmp_path):
    """Another process with the job open on tmp_path/ckpt (SIGKILLed at the end)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    drop(tmp_path / "in", "first.txt", b"one\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "ckpt"),
                             str(tmp_path / "in")], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"open\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_process_is_refused_naming_the_holder(tmp_path, holder, sink_name):
    drop(tmp_path / "in", "second.txt", b"two\n")
    before = snapshot(tmp_path / "ckpt")
    with pytest.raises(CheckpointError) as err:
        directory_job(tmp_path / "ckpt", tmp_path / "in", sink_name).run(until_idle=True)
    message = str(err.value)
    assert f"is in use by pid {holder.pid} on host {socket.gethostname()}" in message
    assert "only one process may run a job on a checkpoint" in message
    assert snapshot(tmp_path / "ckpt") == before  # refused before writing anything


def test_the_lock_dies_with_its_process(tmp_path, holder, sink_name):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    drop(tmp_path / "in", "second.txt", b"two\n", mtime=time.time() + 1)
    directory_job(tmp_path / "ckpt", tmp_path / "in", sink_name).run(until_idle=True)
    assert MemorySink.results(sink_name) == ["one", "two"]  # each file once
    manifest = tmp_path / "ckpt" / "sources" / "directory-1" / "manifest.jsonl"
    assert len(manifest.read_bytes().splitlines()) == 2


def test_two_jobs_in_one_process_are_refused_too(tmp_path, sink_name):
    first = directory_job(tmp_path / "ckpt", tmp_path / "in", sink_name)
    first.open()
    try:
        with pytest.raises(CheckpointError, match=f"in use by pid {os.getpid()}"):
            directory_job(tmp_path / "ckpt", tmp_path / "in", sink_name).open()
    finally:
        first.run(batches=0)  # closes the job, which releases the lock
    directory_job(tmp_path / "ckpt", tmp_path / "in", sink_name).run(batches=1)


def test_a_refused_open_releases_the_lock(tmp_path):
    """A job refused for another reason (a foreign checkpoint) must not keep it locked."""
    Checkpoint(tmp_path, "one", {}).open()  # never closed: the object is dropped
    with pytest.raises(CheckpointError, match="belongs to job 'one'"):
        Checkpoint(tmp_path, "two", {}).open()
    ckpt = Checkpoint(tmp_path, "one", {})
    ckpt.open()
    ckpt.close()
