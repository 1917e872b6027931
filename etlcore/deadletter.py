"""The default dead-letter sink: kept in memory and, with a checkpoint, on disk.

Records a cleanse step or a guarded operator refuses are written here with
the reason and the stage. Any sink plugin can take its place
(``StreamingContext(dead_letter=("files", {"path": ...}))``).
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.sink import SinkContext, StagedFileSink


class DeadLetterSink(StagedFileSink):
    """Last ``keep`` dead letters in memory; JSON lines per batch under the checkpoint."""

    def __init__(self, keep: int = 10_000):
        super().__init__()
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.folder: Path | None = None

    def open(self, ctx: SinkContext) -> None:
        if ctx.checkpoint_dir is not None:
            self.folder = ctx.checkpoint_dir / "dead-letter"

    def final_path(self, batch: BatchInfo, partition: int) -> Path:
        assert self.folder is not None
        return self.folder / f"batch-{batch.batch_id:012d}-{partition:05d}.jsonl"

    def write_file(self, path: Path, records: list[Any]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, default=repr) + "\n")

    def write(self, batch: BatchInfo, partition: int, records: list[Any]) -> None:
        self.recent.extend(records)
        if self.folder is not None:
            super().write(batch, partition, records)

    def commit(self, batch: BatchInfo) -> None:
        if self.folder is not None:
            super().commit(batch)
