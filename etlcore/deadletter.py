"""The default dead-letter sink: kept in memory and, with a checkpoint, on disk.

Records a cleanse step or a guarded operator refuses are written here with
the reason and the stage. Any sink plugin can take its place
(``StreamingContext(dead_letter=("files", {"path": ...}))``).

Sides: the engine writes dead letters through the sink protocol on the driver;
the writer hands the letters to ``commit``, which keeps them in memory and
writes the batch's file under the checkpoint.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from etlcore.batch import BatchInfo
from etlcore.checkpoint import atomic_write
from etlcore.sink import CollectingSink, SinkContext


class DeadLetterSink(CollectingSink):
    """Last ``keep`` dead letters in memory; JSON lines per batch under the checkpoint.

    The file name comes from the batch id and is replaced atomically, so a
    replayed batch rewrites the same file (strategy 2 of :mod:`etlcore.sink`).
    """

    def __init__(self, keep: int = 10_000):
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.folder: Path | None = None

    def open(self, ctx: SinkContext) -> None:
        if ctx.checkpoint_dir is not None:
            self.folder = ctx.checkpoint_dir / "dead-letter"

    def path(self, batch: BatchInfo) -> Path | None:
        """The batch's file (the ``-00000`` suffix keeps the old per-partition layout)."""
        if self.folder is None:
            return None
        return self.folder / f"batch-{batch.batch_id:012d}-00000.jsonl"

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        if not records:
            return
        path = self.path(batch)
        if path is not None:
            data = "".join(json.dumps(r, default=repr) + "\n" for r in records)
            atomic_write(path, data.encode())
        self.recent.extend(records)
