"""Every built-in connector in one checkpointed job, on the local and the processes runner.

Under ``processes`` the readers and writers are pickled into worker processes:
the directory reader finds names in the manifest file, the socket reader reads
the write-ahead log, the generator reader regenerates its ranges, and the
files writer stages on a worker what the driver renames.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.runners.processes import ProcessRunner

from .helpers import open_job

T0 = 1_700_000_000.0


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_every_connector_on_a_runner(tmp_path: Path, sink_name: str, runner: str, capsys):
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (inbox / "a.json").write_text('{"n": 1}\n{"n": 2}\nnot json\n')
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="io",
                           runner=ProcessRunner(workers=2) if runner == "processes" else runner)
    numbers = ctx.source("directory", path=str(inbox), format="json").map(
        lambda r: r["n"], on_error="dead_letter").map(str)
    sensors = ctx.source("generator", kind="sensors", rate=4, partitions=2, limit=2,
                         start_time=T0).map(lambda r: r["sensor_id"])
    lines = ctx.source("socket", port=0, mode="listen", ack=True)
    merged = numbers.union(sensors).union(lines)
    merged.sink("memory", name=sink_name)
    merged.sink("files", path=str(out / "files"), format="text")
    merged.sink("sqlite", path=str(out / "out.db"), table="t", mode="append", columns=["v"])
    merged.sink("console", limit=100, header=False)

    job = open_job(ctx)
    port = next(n.source.port for n in job.graph.sources if hasattr(n.source, "port"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"x\ny\n")
        assert conn.makefile("rb").readline() == b"ACK 2\n"
    ctx.run(until_idle=True)

    want = sorted(["1", "2", "x", "y"] + [f"sensor-{s:03d}" for s in (0, 1, 16, 17)])
    assert sorted(MemorySink.results(sink_name)) == want
    parts = sorted((out / "files").glob("batch-*/part-*.txt"))
    assert sorted(line for p in parts for line in p.read_text().splitlines()) == want
    with sqlite3.connect(out / "out.db") as conn:
        assert sorted(v for (v,) in conn.execute("SELECT v FROM t")) == want
    assert sorted(capsys.readouterr().out.splitlines()) == want
    assert [d["record"] for d in ctx.dead_letters] == ["not json"]
    letters = (tmp_path / "ckpt" / "dead-letter").glob("*.jsonl")
    assert [json.loads(line)["record"] for f in letters for line in f.read_text().splitlines()] \
        == ["not json"]
