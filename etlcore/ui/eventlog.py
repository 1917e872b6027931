"""The UI's event log: every batch's metrics as a JSON line under the checkpoint.

Spark's history server reads the event log a job wrote while it ran; ``etlcore
ui --checkpoint DIR`` reads this one (``<checkpoint>/ui/batches.jsonl``). It is
written on the UI's thread, never the batch thread, and rolled over to
``batches.1.jsonl`` past ``MAX_BYTES`` so a long job keeps a bounded history.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from etlcore.metrics import BatchMetrics

log = logging.getLogger("etlcore.ui")

FOLDER = "ui"
NAME = "batches.jsonl"
ROLLED = "batches.1.jsonl"
MAX_BYTES = 32 * 1024 * 1024


class EventLog:
    """Appends batches to ``<checkpoint>/ui/batches.jsonl``; a failing disk only warns."""

    def __init__(self, checkpoint: str | Path):
        self.folder = Path(checkpoint) / FOLDER
        self.path = self.folder / NAME
        self._broken = False

    def append(self, m: BatchMetrics) -> None:
        if self._broken:
            return
        line = json.dumps(m.to_dict(), default=str, separators=(",", ":")) + "\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size > MAX_BYTES:
                self.path.replace(self.folder / ROLLED)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError as err:
            self._broken = True
            log.warning("web UI: cannot write its event log %s (%s); the history of this run "
                        "will lack batch details (the job goes on)", self.path, err)
