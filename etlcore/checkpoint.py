"""The checkpoint directory: plan log, commit log and state snapshots.

Layout (format version 1)::

    metadata.json                 job name, graph fingerprint, format version
    plans/<batch_id>.json         the batch plan, written before the batch runs
    commits/<batch_id>.json       written after every sink committed the batch
    state/<batch_id>.state        snapshot of every stateful operator (codec below)

Every file is written to a temp name, fsynced, renamed, and the directory
fsynced, so a crash leaves either the old file or the new one. Plans and
commits are JSON; state uses :mod:`etlcore.codec` (msgpack, no pickle).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etlcore.batch import BatchPlan
from etlcore.codec import get_codec
from etlcore.errors import CheckpointError

FORMAT = "etlcore-checkpoint"
VERSION = 1
_STATE_MAGIC = b"ETLS1"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _ids(folder: Path, suffix: str) -> list[int]:
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        if p.name.endswith(suffix) and not p.name.startswith("."):
            stem = p.name[: -len(suffix)]
            if stem.isdigit():
                out.append(int(stem))
    return sorted(out)


@dataclass
class Recovery:
    """What a restart found in the checkpoint."""

    last_committed: int  # -1 when no batch committed
    pending: BatchPlan | None  # planned but not committed: replay with exactly this plan
    snapshot_batch: int  # -1 when there is no snapshot
    state: dict[str, Any] | None
    replay_plans: list[BatchPlan]  # committed batches after the snapshot, to rebuild state
    positions: dict[str, dict[str, Any]]  # where the next new batch starts
    last_batch_time: float | None


class Checkpoint:
    """A job's checkpoint directory."""

    def __init__(self, path: str | os.PathLike[str], job: str, fingerprint: list[str],
                 state_codec: str = "msgpack"):
        self.path = Path(path)
        self.job = job
        self.fingerprint = fingerprint
        self.codec = get_codec(state_codec)

    # -- names --------------------------------------------------------------
    def _plan_path(self, batch_id: int) -> Path:
        return self.path / "plans" / f"{batch_id:012d}.json"

    def _commit_path(self, batch_id: int) -> Path:
        return self.path / "commits" / f"{batch_id:012d}.json"

    def _state_path(self, batch_id: int) -> Path:
        return self.path / "state" / f"{batch_id:012d}.state"

    # -- metadata -------------------------------------------------------------
    def open(self) -> None:
        """Create the directory, or check that it belongs to this job and version."""
        meta_path = self.path / "metadata.json"
        if meta_path.exists():
            meta = self._read_json(meta_path)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError(
                    f"{self.path} is not an etlcore checkpoint (metadata.json has no "
                    f"format '{FORMAT}'); point the job at an empty or its own directory"
                )
            version = meta.get("version")
            if version != VERSION:
                raise CheckpointError(
                    f"{self.path} was written with checkpoint format {version!r}; this etlcore "
                    f"reads format {VERSION}. Use a new checkpoint directory."
                )
            if meta.get("job") != self.job:
                raise CheckpointError(
                    f"{self.path} belongs to job {meta.get('job')!r}, not {self.job!r}; "
                    "each job needs its own checkpoint directory"
                )
            if meta.get("graph") != self.fingerprint:
                raise CheckpointError(
                    f"{self.path} was written by a job with different operators "
                    f"({meta.get('graph')} vs {self.fingerprint}); state cannot be reused. "
                    "Use a new checkpoint directory after changing a job's operators."
                )
            return
        if self.path.exists() and any(
            p for p in self.path.iterdir() if not p.name.startswith(".")
            and p.name not in ("sources", "dead-letter")
        ):
            raise CheckpointError(
                f"{self.path} is not empty and has no metadata.json: not an etlcore checkpoint"
            )
        meta = {"format": FORMAT, "version": VERSION, "job": self.job,
                "graph": self.fingerprint, "state_codec": self.codec.name,
                "created": time.time()}
        atomic_write(meta_path, json.dumps(meta, indent=1).encode())

    def _read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_bytes())
        except (OSError, ValueError) as err:
            raise CheckpointError(f"corrupt checkpoint file {path}: {err}") from None

    # -- logs ---------------------------------------------------------------------
    def write_plan(self, plan: BatchPlan) -> None:
        atomic_write(self._plan_path(plan.batch_id), json.dumps(plan.to_json()).encode())

    def write_commit(self, plan: BatchPlan, records_in: int) -> None:
        entry = {"batch_id": plan.batch_id, "batch_time": plan.batch_time,
                 "positions": plan.end_positions(), "records_in": records_in,
                 "committed_at": time.time()}
        atomic_write(self._commit_path(plan.batch_id), json.dumps(entry).encode())

    def read_plan(self, batch_id: int) -> BatchPlan:
        data = self._read_json(self._plan_path(batch_id))
        try:
            return BatchPlan.from_json(data)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"corrupt batch plan {batch_id} in {self.path}: {err}") from None

    # -- state -------------------------------------------------------------------------
    def write_state(self, batch_id: int, state: dict[str, Any]) -> None:
        body = self.codec.encode(state)
        header = _STATE_MAGIC + self.codec.name.encode().ljust(8) + zlib.crc32(body).to_bytes(4, "big")
        atomic_write(self._state_path(batch_id), header + body)

    def read_state(self, batch_id: int) -> dict[str, Any]:
        path = self._state_path(batch_id)
        data = path.read_bytes()
        if not data.startswith(_STATE_MAGIC) or len(data) < 17:
            raise CheckpointError(f"corrupt state snapshot {path}: bad header")
        codec = data[5:13].decode().strip()
        if codec != self.codec.name:
            raise CheckpointError(
                f"state snapshot {path} uses codec {codec!r} but the job is configured "
                f"with {self.codec.name!r}"
            )
        crc, body = int.from_bytes(data[13:17], "big"), data[17:]
        if zlib.crc32(body) != crc:
            raise CheckpointError(f"corrupt state snapshot {path}: checksum mismatch")
        try:
            state = self.codec.decode(body)
        except CheckpointError:
            raise
        except Exception as err:  # noqa: BLE001 - any decoder failure means corruption
            raise CheckpointError(f"corrupt state snapshot {path}: {err}") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"corrupt state snapshot {path}: not a mapping")
        return state

    # -- recovery ----------------------------------------------------------------------
    def recover(self) -> Recovery:
        plans = _ids(self.path / "plans", ".json")
        commits = _ids(self.path / "commits", ".json")
        last_committed = commits[-1] if commits else -1
        last_planned = plans[-1] if plans else -1
        pending = None
        if last_planned > last_committed:
            if last_planned != last_committed + 1:
                raise CheckpointError(
                    f"checkpoint {self.path} has planned batch {last_planned} but the last "
                    f"commit is {last_committed}: the log is corrupt"
                )
            pending = self.read_plan(last_planned)
        snapshots = [s for s in _ids(self.path / "state", ".state") if s <= last_committed]
        snapshot_batch = snapshots[-1] if snapshots else -1
        state = self.read_state(snapshot_batch) if snapshot_batch >= 0 else None
        replay = [self.read_plan(b) for b in range(snapshot_batch + 1, last_committed + 1)]
        positions: dict[str, dict[str, Any]] = {}
        last_time = None
        if last_committed >= 0:
            entry = self._read_json(self._commit_path(last_committed))
            try:
                positions = entry["positions"]
                last_time = float(entry["batch_time"])
            except (KeyError, TypeError, ValueError) as err:
                raise CheckpointError(f"corrupt commit {last_committed}: {err}") from None
        if pending is not None:
            positions = pending.end_positions()
            last_time = pending.batch_time
        return Recovery(last_committed, pending, snapshot_batch, state, replay, positions,
                        last_time)

    def prune(self, keep_from: int) -> None:
        """Drop logs and snapshots no recovery can need (older than snapshot ``keep_from``)."""
        for folder, suffix, path_of in (
            ("plans", ".json", self._plan_path),
            ("commits", ".json", self._commit_path),
            ("state", ".state", self._state_path),
        ):
            for batch_id in _ids(self.path / folder, suffix):
                if batch_id < keep_from:
                    path_of(batch_id).unlink(missing_ok=True)
