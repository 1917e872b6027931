"""Connectors with one bug each, under the contract kit (run by test_kit_catches_bugs.py).

Not collected by the main run (no ``test_`` prefix); the meta-test copies it
into a temp directory and runs pytest on it.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.config import option, secret
from etlcore.contract import SinkContract, SourceContract, Target
from etlcore.errors import ConfigError
from etlcore.sink import CollectingSink, Sink, SinkWriter
from etlcore.source import OffsetSource, Source, SourceReader

STORE: dict[str, list[Any]] = {}


@dataclass
class ListConfig:
    name: str = option(help="key in STORE")
    password: str | None = secret(None, help="shown by the buggy repr")

    def validate(self, where: str) -> None:
        if not self.name:
            raise ConfigError("name", "a name", self.name)  # bug: the key lacks `where`


class AppendingSink(CollectingSink):
    """Bug: appends at every commit, with no batch id kept (replays store twice)."""

    def __init__(self, config: ListConfig):
        self.config = config

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        STORE.setdefault(self.config.name, []).extend(records)


class LockedWriter(SinkWriter):
    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()  # bug: a live object in a writer

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> Any:
        return records


class LockedSink(AppendingSink):
    def writer(self) -> SinkWriter:
        return LockedWriter(self.config.name)

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        STORE.setdefault(self.config.name, {})[batch.batch_id] = records  # type: ignore[index]


class ChattySink(Sink):
    """Bug: its repr shows the whole config, password included."""

    def __init__(self, config: ListConfig):
        self.config = config

    def __repr__(self) -> str:
        return f"ChattySink({dataclasses.asdict(self.config)})"

    def writer(self) -> SinkWriter:
        return LockedWriter(self.config.name)

    def commit(self, batch: BatchInfo, messages: list[Any]) -> None:
        pass


class ListSinkContract(SinkContract):
    config_class = ListConfig

    def config(self, path: Path) -> dict[str, Any]:
        return {"name": str(path)}

    def sample_records(self) -> list[Any]:
        return list(range(6))

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"name": ""}, "name")]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        value = STORE.get(target.config["name"], [])
        return [r for rs in value.values() for r in rs] if isinstance(value, dict) else list(value)


class TestAppendingSink(ListSinkContract):
    connector_class = AppendingSink


class TestLockedSink(ListSinkContract):
    connector_class = LockedSink


class TestChattySink(ListSinkContract):
    connector_class = ChattySink


@dataclass
class CountConfig:
    n: int = option(10, help="records per partition")


class RandomReader(SourceReader):
    def read(self, partition: str, start: int, end: int) -> list[Any]:
        return [random.random() for _ in range(start, end)]  # bug: not a function of the range


class RandomSource(OffsetSource):
    def __init__(self, config: CountConfig):
        self.n = config.n

    def partitions(self) -> list[str]:
        return ["0"]

    def available(self, partition: str) -> int:
        return self.n

    def reader(self) -> SourceReader:
        return RandomReader()


class TestRandomSource(SourceContract):
    connector_class = RandomSource
    config_class = CountConfig

    def config(self, path: Path) -> dict[str, Any]:
        return {"n": 5}

    def produce(self, source: Source, round: int) -> None:  # noqa: A002
        source.n += 5  # type: ignore[attr-defined]
