"""The console sink: workers ship at most ``limit`` records, the driver prints at commit."""

from __future__ import annotations

import pytest

from etlcore import BatchInfo
from etlcore.plugin.registry import get_registry
from etlcore.sink import SinkContext

from .protocol import PICKLERS, open_writer, write, write_and_commit


def build(**config):
    sink = get_registry().get("sink", "console").build(config)
    sink.open(SinkContext("console", "job"))
    return sink


def test_prints_the_first_records_in_partition_order(capsys):
    sink = build(limit=3)
    messages = write(sink, BatchInfo(2, 0.0), [[1, 2], [], [3, 4, 5]])
    assert messages == [([1, 2], 2), ([], 0), ([3, 4, 5], 3)]
    assert capsys.readouterr().out == ""  # nothing shows before the commit
    sink.commit(BatchInfo(2, 0.0), messages)
    assert capsys.readouterr().out == "-------- batch 2 at 00:00:00 (5 records)\n1\n2\n3\n...\n"


def test_an_empty_batch_prints_nothing_and_header_can_be_off(capsys):
    write_and_commit(build(), BatchInfo(0, 0.0), [[], []])
    write_and_commit(build(header=False), BatchInfo(1, 0.0), [[("k", 1)]])
    assert capsys.readouterr().out == "('k', 1)\n"


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_writer_crosses_processes_with_only_its_limit(how):
    sink = build(limit=2)
    here, there = open_writer(sink), open_writer(sink, how=how)
    assert there.write(BatchInfo(0, 0.0), 0, list(range(100))) == ([0, 1], 100)
    assert here.write(BatchInfo(0, 0.0), 0, list(range(100))) == ([0, 1], 100)
