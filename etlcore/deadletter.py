"""The default dead-letter sink: kept in memory and, with a checkpoint, on disk.

Records a source cannot decode, a cleanse step or a guarded operator refuses,
or a sink cannot store are written here with the reason, the stage and, when
known, the origin (file and line, partition and offset). Letters are made
storable when written (:func:`etlcore.encoding.storable_letter`): on disk a
record that is not plain JSON is kept as its ``ascii()`` repr with
``record_repr: true``, so no record can make the dead-letter sink fail; in
memory (``ctx.dead_letters``) letters hold the records themselves. Any sink plugin can take its place
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
from etlcore.ckptstore import CheckpointStore, RemoteStore, is_remote
from etlcore.encoding import safe_repr, storable_letter
from etlcore.graph.base import DeadLetter
from etlcore.sink import CollectingSink, SinkContext


class DeadLetterSink(CollectingSink):
    """Last ``keep`` dead letters in memory; JSON lines per batch under the checkpoint.

    The file name comes from the batch id and is replaced atomically, so a
    replayed batch rewrites the same file (strategy 2 of :mod:`etlcore.sink`).
    """

    #: The engine hands this sink its batch's :class:`DeadLetter` objects as they are
    #: (not dicts), as one :class:`etlcore.letters.Letters` sequence whose letters from
    #: worker processes are unpacked only when read: without a checkpoint a batch is kept
    #: by its count, and a dict per letter is made only when the letters are read or
    #: written. A subclass whose ``store`` wants dicts sets this to False.
    takes_dead_letters = True

    def __init__(self, keep: int = 10_000):
        self.keep = keep
        self._batches: deque[tuple[int, list[Any]]] = deque()  # (batch id, letters) kept
        self._kept = 0  # letters in _batches
        self.folder: Path | None = None
        self._store: CheckpointStore | None = None  # a checkpoint on shared storage

    def open(self, ctx: SinkContext) -> None:
        if ctx.checkpoint_dir is None:
            return
        if is_remote(ctx.checkpoint_dir):
            self._store = RemoteStore(f"{ctx.checkpoint_dir}/dead-letter")
        else:
            self.folder = Path(ctx.checkpoint_dir) / "dead-letter"

    @staticmethod
    def _name(batch: BatchInfo) -> str:
        return f"batch-{batch.batch_id:012d}-00000.jsonl"

    def path(self, batch: BatchInfo) -> Path | None:
        """The batch's file (the ``-00000`` suffix keeps the old per-partition layout)."""
        if self.folder is None:
            return None
        return self.folder / self._name(batch)

    @property
    def recent(self) -> deque[dict[str, Any]]:
        """The last ``keep`` letters, as dicts, oldest first."""
        out: deque[dict[str, Any]] = deque(maxlen=self.keep)
        for batch_id, letters in self._batches:
            out.extend(_dicts(letters, batch_id))
        return out

    def store(self, batch: BatchInfo, records: list[Any]) -> None:
        """Letters as dicts (the sink protocol) or as the engine's DeadLetter objects."""
        if not records:
            return
        path = self.path(batch)
        if path is not None:
            atomic_write(path, _lines(_dicts(records, batch.batch_id)))
        elif self._store is not None:  # one object, replaced on a replay
            self._store.write(self._name(batch), _lines(_dicts(records, batch.batch_id)))
        self._batches.append((batch.batch_id, records))
        self._kept += len(records)
        while self._kept - len(self._batches[0][1]) >= self.keep:  # whole batches past keep
            self._kept -= len(self._batches.popleft()[1])


def _dicts(letters: list[Any], batch_id: int) -> list[Any]:
    """Letters as dicts: the engine's DeadLetter objects converted, dicts as they are."""
    if letters and type(letters[0]) is DeadLetter:
        return DeadLetter.dicts(letters, batch_id)
    return letters


def _lines(records: list[Any]) -> bytes:
    """A batch's letters as the JSON lines of its file (only built when there is a file)."""
    return "".join(_line(r) for r in records).encode()


def _line(letter: Any) -> str:
    """One letter as a JSON line, whatever its record holds: this must never fail."""
    safe = storable_letter(letter) if isinstance(letter, dict) else safe_repr(letter)
    return json.dumps(safe, default=safe_repr) + "\n"
