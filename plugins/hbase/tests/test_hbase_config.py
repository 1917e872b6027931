"""Checks that need no server: config errors name the key before a job runs, the missing
client is one line with the pip command, and keys and cells come from the record alone."""

from __future__ import annotations

import pickle
import sys

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.errors import ConfigError
from etlcore.plugin.imports import MissingDependencyError
from etlcore.plugin.registry import get_registry


def test_a_bad_config_fails_before_the_job_runs_naming_the_key() -> None:
    ctx = StreamingContext(1.0, clock="manual")
    ran = []
    stream = ctx.queue_stream([[{"a": 1}]]).map(lambda r: ran.append(r) or r)
    with pytest.raises(ConfigError) as err:
        stream.sink("hbase", table="t", row_key="{a}", columns={"a": "cf:"})
        ctx.run(until_idle=True)
    assert err.value.key.endswith("columns.a")
    assert ran == []


def test_without_happybase_the_error_names_the_pip_command(monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    monkeypatch.setitem(sys.modules, "happybase", None)
    sink = get_registry().get("sink", "hbase").build({"table": "t", "row_key": "{a}"})
    from etlcore.sink import SinkContext

    with pytest.raises(MissingDependencyError, match=r"pip install 'happybase>=1.2'"):
        sink.open(SinkContext("hbase", "job"))


def test_keys_and_cells_depend_on_the_record_and_batch_only() -> None:
    """Two writers (one shipped through pickle) encode a batch identically: no clock, no
    randomness, no per-process state in keys or cells."""
    sink = get_registry().get("sink", "hbase").build(
        {"table": "t", "fields": ["user", "n", "tags"], "types": {"n": "int"}})
    sink.epoch = "e1"
    writers = [sink.writer(), pickle.loads(pickle.dumps(sink.writer()))]
    records = [("u1", 1, ["a"]), ("u2", 2, {"k": [1.5]}), ("u3", "x", None)]
    batch = BatchInfo(7, 123.456)
    prepared = []
    for writer in writers:
        writer._batch, writer._partition, writer._pos = batch, 3, 0
        out = []
        for record in records[:2]:
            key, (cells, _, size) = writer.prepare(record)
            out.append((key, cells, size))
        prepared.append(out)
    assert prepared[0] == prepared[1]
    assert prepared[0][0][0] == b"e1:000000000007:00003:000000000"
    assert prepared[0][1][1] == {b"cf:user": b"u2", b"cf:n": b"2", b"cf:tags": b'{"k":[1.5]}'}
