"""PartitionedReceiverSource: N receiver threads -> N logged partitions, replayable."""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from etlcore import StreamingContext
from etlcore.clock import ManualClock
from etlcore.config import option
from etlcore.connectors.queue import MemorySink
from etlcore.contract import SourceContract
from etlcore.errors import ConfigError
from etlcore.plugin.receivers import PartitionedLogReader, PartitionedReceiverSource, log_folder
from etlcore.source import DriverReader, Source, SourceContext


@dataclass
class InboxConfig:
    inbox: str = option(help="name of the in-process inboxes")
    partitions: int = option(3, help="receiver threads / partitions")

    def validate(self, where: str) -> None:
        if self.partitions < 1:
            raise ConfigError(f"{where}.partitions", "a positive integer", self.partitions)


class InboxSource(PartitionedReceiverSource):
    """One thread per partition drains an in-process queue (a stand-in for N connections)."""

    inboxes: ClassVar[dict[str, list[queue.Queue[Any]]]] = {}

    def __init__(self, config: InboxConfig):
        self.config = config

    def receiver_partitions(self) -> list[str]:
        return [str(p) for p in range(self.config.partitions)]

    def receive(self, partition: str) -> None:
        inbox = self.inboxes[self.config.inbox][int(partition)]
        while not self.stopping():
            try:
                batch, done = inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            self.store(batch, partition)
            done.set()

    @classmethod
    def send(cls, name: str, partition: int, records: list[Any]) -> None:
        """Deliver and wait until the receiver logged the records (an acknowledgement)."""
        import threading

        done = threading.Event()
        cls.inboxes[name][partition].put((records, done))
        assert done.wait(10), "the receiver did not log the records"


def inbox(name: str, partitions: int) -> None:
    InboxSource.inboxes[name] = [queue.Queue() for _ in range(partitions)]


def test_partition_names_must_name_directories(tmp_path):
    assert log_folder(tmp_path, "0") == tmp_path
    assert log_folder(tmp_path, "shard-1") == tmp_path / "partition-shard-1"
    assert log_folder(None, "1") is None
    with pytest.raises(ValueError, match="names a directory"):
        log_folder(tmp_path, "../x")


def test_without_a_checkpoint_the_driver_reads_memory_logs():
    inbox("mem", 2)
    source = InboxSource(InboxConfig("mem", 2))
    source.open(SourceContext("s", ManualClock()))
    try:
        InboxSource.send("mem", 1, ["a", "b"])
        assert isinstance(source.reader(), DriverReader)
        assert source.partitions() == ["0", "1"] and source.available("1") == 2
        assert source.read("1", 0, 2) == ["a", "b"] and source.available("0") == 0
    finally:
        source.close()
    assert not any(t.is_alive() for t in source._threads)


def test_partition_zero_logs_where_the_socket_source_does(tmp_path):
    inbox("layout", 2)
    source = InboxSource(InboxConfig("layout", 2))
    source.open(SourceContext("s", ManualClock(), tmp_path))
    InboxSource.send("layout", 0, [1])
    InboxSource.send("layout", 1, [2])
    reader = source.reader()
    source.close()
    assert isinstance(reader, PartitionedLogReader)
    state = tmp_path / "sources" / "s"
    assert sorted(str(p.relative_to(state)) for p in state.rglob("*.jsonl")) == [
        "partition-1/received.jsonl", "received.jsonl"]


class TestInboxSource(SourceContract):
    connector_class = InboxSource
    config_class = InboxConfig

    def config(self, path: Path) -> dict[str, Any]:
        inbox(path.name, 3)
        return {"inbox": path.name, "partitions": 3}

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        name = source.config.inbox  # type: ignore[attr-defined]
        sent = []
        for p in range(3):
            records = [{"round": round, "p": p, "i": i} for i in range(p + 2)]
            InboxSource.send(name, p, records)
            sent += records
        return sent

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"partitions": 0}, "partitions")]


def test_a_job_on_worker_processes_reads_every_partition_once(tmp_path):
    inbox("procs", 3)
    out = "receivers-procs"
    MemorySink.clear(out)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", runner="processes", workers=2)
    ctx.stream(InboxSource(InboxConfig("procs", 3)), name="inbox").sink("memory", name=out)
    ctx.open()
    for p in range(3):
        InboxSource.send("procs", p, [f"{p}-{i}" for i in range(4)])
    ctx.run(until_idle=True)
    assert sorted(MemorySink.results(out)) == sorted(f"{p}-{i}" for p in range(3) for i in range(4))
    MemorySink.clear(out)
