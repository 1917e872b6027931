"""The queue source and the memory sink: driver memory on both ends."""

from __future__ import annotations

import pickle

import pytest

from etlcore import BatchInfo, StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext
from etlcore.source import DriverReader

from .protocol import PICKLERS, open_writer, read, write_and_commit


def test_queued_batches_one_per_micro_batch(sink_name):
    ctx = StreamingContext(1.0, clock="manual")
    ctx.queue_stream([[1, 2], [], [3]]).map(lambda x: x * 10).sink("memory", name=sink_name)
    ctx.run(batches=3)
    assert MemorySink.batches(sink_name) == {0: [10, 20], 2: [30]}


def test_the_queue_is_read_on_the_driver():
    source = get_registry().get("source", "queue").build({"batches": [["a"], ["b", "c"]]})
    assert source.plan("0", 0, None) == 1
    source.push(["d"])
    reader = source.reader()
    assert isinstance(reader, DriverReader)
    assert read(source, "0", 1, 3) == list(reader.read("0", 1, 3)) == ["b", "c", "d"]
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(reader)


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_memory_writer_crosses_processes_and_a_replay_replaces(sink_name, how):
    sink = get_registry().get("sink", "memory").build({"name": sink_name})
    sink.open(SinkContext("memory", "job"))
    batch = BatchInfo(3, 3.0)
    here, there = open_writer(sink), open_writer(sink, how=how)
    messages = [there.write(batch, 0, [1, 2]), there.write(batch, 1, [3])]
    assert messages == [here.write(batch, 0, [1, 2]), here.write(batch, 1, [3])]
    sink.commit(batch, messages)
    write_and_commit(sink, BatchInfo(3, 3.0, replay=True), [[1, 2], [3]])
    assert MemorySink.batches(sink_name) == {3: [1, 2, 3]}
    write_and_commit(sink, BatchInfo(3, 3.0, replay=True), [[], []])
    assert MemorySink.batches(sink_name) == {}
