"""Drive connectors through the split protocol directly, as a worker and the driver would."""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

from etlcore.batch import BatchInfo
from etlcore.sink import Sink, SinkWriter, WriterContext
from etlcore.source import ReaderContext, Source, SourceReader

PICKLERS = {"pickle": pickle, "cloudpickle": cloudpickle}


def roundtrip(obj: Any, how: str = "pickle") -> Any:
    """What a worker gets: ``obj`` serialised and loaded again."""
    return pickle.loads(PICKLERS[how].dumps(obj))


def open_reader(source: Source, name: str = "src", checkpoint: str | None = None,
                how: str | None = None) -> SourceReader:
    """The source's reader, optionally pickled first, opened as a worker would."""
    reader = source.reader()
    if how is not None:
        reader = roundtrip(reader, how)
    reader.open(ReaderContext(name, "job", checkpoint))
    return reader


def read(source: Source, partition: str, start: Any, end: Any) -> list[Any]:
    """One planned range, read through a fresh reader."""
    reader = open_reader(source)
    try:
        return list(reader.read(partition, start, end))
    finally:
        reader.close()


def open_writer(sink: Sink, how: str | None = None) -> SinkWriter:
    writer = sink.writer()
    if how is not None:
        writer = roundtrip(writer, how)
    writer.open(WriterContext("sink", "job"))
    return writer


def write(sink: Sink, batch: BatchInfo, partitions: list[list[Any]]) -> list[Any]:
    """Every partition through one writer; returns the commit messages in partition order."""
    writer = open_writer(sink)
    try:
        return [writer.write(batch, i, records) for i, records in enumerate(partitions)]
    finally:
        writer.close()


def write_and_commit(sink: Sink, batch: BatchInfo, partitions: list[list[Any]]) -> None:
    sink.commit(batch, write(sink, batch, partitions))
