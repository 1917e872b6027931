"""One file per (batch, partition) under a directory, committed by atomic rename.

Final names depend on ids only, ``<path>/batch-<batch_id:012d>/part-<partition:05d>.<ext>``,
so a replayed batch overwrites the files of its first run instead of adding
copies. A batch directory gets a ``_SUCCESS`` marker once all its parts are in
place (the Hadoop convention); partitions without records write no file, and
a batch without any records leaves no directory.

Formats: ``jsonl`` (one JSON value per line; tuples become arrays, values JSON
cannot represent are written with ``str``), ``csv`` (dict records: a header of
the keys in first-seen order; tuples and lists: rows, nested tuples flattened;
anything else: one column) and ``text`` (``str(record)`` per line).

Sides: the sink is its own picklable writer config; workers write and fsync
temp files, the driver renames them and writes ``_SUCCESS`` at commit. Workers
and driver must see the same file system.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etlcore.batch import BatchInfo
from etlcore.config import option
from etlcore.connectors.sqlite import flatten
from etlcore.errors import ConfigError
from etlcore.sink import SinkContext, StagedFileSink, fsync_path

_EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "text": "txt"}


@dataclass
class FilesSinkConfig:
    path: str = option(help="output directory; one sub-directory per batch")
    format: Literal["jsonl", "csv", "text"] = option("jsonl", help="file format")

    def validate(self, where: str) -> None:
        if not self.path:
            raise ConfigError(f"{where}.path" if where else "path", "a directory path", self.path)


def _csv_rows(records: list[Any]) -> tuple[list[str] | None, list[list[Any]]]:
    """A header (for dict records) and the rows."""
    if records and all(isinstance(r, dict) for r in records):
        header = list(dict.fromkeys(k for r in records for k in r))
        return header, [[r.get(k) for k in header] for r in records]
    return None, [flatten(r) if isinstance(r, (tuple, list)) else [r] for r in records]


class FilesSink(StagedFileSink):
    """Strategy 2 of :mod:`etlcore.sink`: staged temp files renamed at commit."""

    def __init__(self, config: FilesSinkConfig):
        self.root = Path(config.path)
        self.format = config.format
        self.ext = _EXTENSIONS[config.format]

    def open(self, ctx: SinkContext) -> None:
        """Resolve the root on the driver: the writer ships to workers with another cwd."""
        self.root = self.root.absolute()

    def final_path(self, batch: BatchInfo, partition: int) -> Path:
        return self.root / f"batch-{batch.batch_id:012d}" / f"part-{partition:05d}.{self.ext}"

    def write_file(self, path: Path, records: list[Any]) -> None:
        """Write the records (runs on a worker; the writer fsyncs the file after)."""
        with open(path, "w", encoding="utf-8", newline="") as f:
            if self.format == "jsonl":
                for r in records:
                    f.write(json.dumps(r, default=str, ensure_ascii=False) + "\n")
            elif self.format == "csv":
                header, rows = _csv_rows(records)
                writer = csv.writer(f, lineterminator="\n")
                if header is not None:
                    writer.writerow(header)
                writer.writerows(rows)
            else:
                for r in records:
                    f.write(f"{r}\n")

    def committed(self, batch: BatchInfo, dirs: list[str]) -> None:
        """Mark each batch directory complete once all its parts are in place."""
        for d in dirs:
            with open(os.path.join(d, "_SUCCESS"), "wb") as f:
                os.fsync(f.fileno())
            fsync_path(d)
