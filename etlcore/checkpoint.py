"""The checkpoint directory: lock, plan log, commit log and state snapshots.

Layout (format version 2)::

    .lock                         held (flock) by the one process running the job
    metadata.json                 job name, job fingerprint, format version
    plans/<batch_id>.json         the batch plan, durable before anything of it is visible
    commits/<batch_id>.json       written after every sink committed the batch
    state/<batch_id>.state        snapshot of every stateful operator (codec below)
    epoch.json                    the checkpoint's epoch (:mod:`etlcore.plugin.epoch`)

The log's order: a batch's plan is durable before its sinks commit it (and before its
writers write, unless every sink allows the plan beside the tasks:
``Sink.plan_before_write``), and its commit record follows its sinks' commits. Batch
n+1's plan may be logged before batch n's commit record (n commits behind n+1's tasks,
:mod:`etlcore.pipelining`), so a restart may find two plans past the last commit; it
replays both, in order, with exactly the logged plans (:meth:`Checkpoint.recover`). A
third, or a gap, is a corrupt log.

Every file is written to a temp name, fsynced, renamed, and the directory
fsynced, so a crash leaves either the old file or the new one. Plans, commits,
metadata, the epoch and the side files connectors keep here (a directory
source's manifest, a sink's token) are JSON *sealed* with a CRC-32 of their content
(:func:`seal`), so an edited or damaged file is refused with its name instead
of being replayed as something else. State uses :mod:`etlcore.codec` (msgpack,
no pickle) behind its own header and CRC.

Only one process may use a checkpoint at a time: two runs would both append to
source logs and both commit, and the next restart would read input twice.
:meth:`Checkpoint.open` takes an exclusive ``flock`` on ``.lock`` before it
writes anything; the kernel drops it when the process exits, however it exits.

The checkpoint may also be a URL on shared storage (``s3://bucket/prefix``,
``hdfs://namenode:9870/path``), which a cluster needs: files then go through
:class:`etlcore.ckptstore.RemoteStore` (one object per batch and kind, written
whole: no append or rename on S3; latest found by listing) and the lock is a
lease renewed by a heartbeat (:mod:`etlcore.lease`). A local path keeps the
code above, through :class:`etlcore.ckptstore.LocalStore`.

The fingerprint (see :meth:`etlcore.graph.builder.Graph.fingerprint`) describes
everything that changes the job's output. A checkpoint written by a job with a
different fingerprint is refused with the list of differences, unless the run
allows a changed job (``allow_changed_job``); the README's "Changing a job"
says what is kept then.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcore.batch import BatchPlan
from etlcore.codec import get_codec
from etlcore.errors import CheckpointError

if TYPE_CHECKING:
    from etlcore.ckptstore import CheckpointStore
    from etlcore.lease import Lease

FORMAT = "etlcore-checkpoint"
VERSION = 2
LOCK_FILE = ".lock"
REMOTE_PRUNE_EVERY = 16  # batches between two bulk deletes on shared storage
_STATE_MAGIC = b"ETLS1"
_CRC = "crc32"

log = logging.getLogger("etlcore.checkpoint")


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


# -- sealed JSON: a checksum inside the document ---------------------------------------

def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _crc(obj: dict[str, Any]) -> str:
    return f"{zlib.crc32(_canonical(obj)):08x}"


def seal(obj: dict[str, Any]) -> bytes:
    """``obj`` as one line of JSON carrying a CRC-32 of its canonical form."""
    return json.dumps({**obj, _CRC: _crc(obj)}, separators=(",", ":")).encode()


def unseal(data: bytes, where: str) -> dict[str, Any]:
    """The object :func:`seal` wrote; a CheckpointError naming ``where`` if it is damaged."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise CheckpointError(f"corrupt checkpoint file {where}: {err}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get(_CRC), str):
        raise CheckpointError(f"corrupt checkpoint file {where}: no checksum (not written by "
                              "this etlcore, or damaged)")
    crc = obj.pop(_CRC)
    if crc != _crc(obj):
        raise CheckpointError(f"corrupt checkpoint file {where}: checksum mismatch (the file "
                              "was edited or damaged)")
    return obj


def write_sealed(path: Path, obj: dict[str, Any]) -> None:
    """Atomically write a sealed JSON file (side files: tokens, start times)."""
    atomic_write(path, seal(obj))


def read_sealed(path: Path) -> dict[str, Any]:
    """Read a file :func:`write_sealed` wrote; any damage is a CheckpointError naming it."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint file {path}: {err.strerror}") from None
    return unseal(data, str(path))


# -- the lock ----------------------------------------------------------------------------

class CheckpointLock:
    """An exclusive ``flock`` on ``<checkpoint>/.lock``, naming its holder inside.

    flock (not POSIX record locks) because it also excludes a second job in the
    same process and is not dropped when some other code closes the file. The
    descriptor is close-on-exec, and workers are started from a fork server, so
    no child process keeps the lock alive after the driver dies.
    """

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CheckpointError(f"cannot lock checkpoint {self.path.parent} "
                                      f"({self.path}: {err.strerror}); put the checkpoint on a "
                                      "file system that supports flock") from None
            raise CheckpointError(
                f"checkpoint {self.path.parent} is in use by {self.holder()}; only one process "
                "may run a job on a checkpoint (two would both read and commit the same input). "
                "Stop the other run, or give this one its own checkpoint directory"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort: it may be mid-write)."""
        try:
            info = json.loads(self.path.read_bytes())
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
            return f"pid {int(info['pid'])} on host {info['host']} (since {since})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process (its pid is not yet written)"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self) -> None:  # a checkpoint dropped without close() must not stay locked
        self.release()


# -- fingerprints ----------------------------------------------------------------------

def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _diff_entry(kind: str, key: str, old: Any, new: Any) -> list[str]:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [f"{kind} '{key}': {_short(old)} -> {_short(new)}"]
    out = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        if isinstance(old.get(name), dict) and isinstance(new.get(name), dict):
            out.extend(_diff_entry(kind, f"{key}.{name}" if name != "identity" else key,
                                   old[name], new[name]))
        elif name == "code" and old.get("calls") and old.get("calls") == new.get("calls"):
            out.append(f"{kind} '{key}': the code of {', '.join(old['calls'])}, or what it "
                       "closes over, changed")
        else:
            out.append(f"{kind} '{key}': {name} {_short(old.get(name))} -> "
                       f"{_short(new.get(name))}")
    return out


def diff_fingerprints(old: Any, new: Any) -> list[str]:
    """What differs between two job fingerprints, one readable line per difference."""
    if old == new:
        return []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [f"the fingerprint {_short(old)} is not {_short(new)}"]
    out = []
    for section, kind in (("nodes", "operator"), ("outputs", "output")):
        before, after = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(before) | set(after), key=str):
            if key not in after:
                out.append(f"{kind} '{key}' was removed")
            elif key not in before:
                out.append(f"{kind} '{key}' was added ({_short(after[key])})")
            elif before[key] != after[key]:
                out.extend(_diff_entry(kind, key, before[key], after[key]))
    return out


def stateful_keys(fingerprint: Any) -> list[str]:
    nodes = fingerprint.get("nodes") if isinstance(fingerprint, dict) else None
    if not isinstance(nodes, dict):
        return []
    return [k for k, n in nodes.items() if isinstance(n, dict) and n.get("stateful")]


@dataclass
class Recovery:
    """What a restart found in the checkpoint."""

    last_committed: int  # -1 when no batch committed
    pending: list[BatchPlan]  # planned, not committed (at most two): replay these, in order
    snapshot_batch: int  # -1 when there is no snapshot
    state: dict[str, Any] | None
    replay_plans: list[BatchPlan]  # committed batches after the snapshot, to rebuild state
    positions: dict[str, dict[str, Any]]  # where the next new batch starts
    last_batch_time: float | None
    state_path: Path | str | None = None  # the snapshot's file, for error messages
    dropped_state: list[str] = field(default_factory=list)  # changed operators (allowed change)

    def read_starts(self, source: str) -> dict[str, Any]:
        """Where the restarted job's first read of each of ``source``'s partitions begins:
        the first pending plan's start (it is replayed first), else where the next new
        batch starts."""
        starts = dict(self.positions.get(source, {}))
        if self.pending:
            starts.update({p: r[0] for p, r in self.pending[0].ranges.get(source, {}).items()})
        return starts


class Checkpoint:
    """A job's checkpoint directory."""

    def __init__(self, path: str | os.PathLike[str], job: str, fingerprint: Any,
                 state_codec: str = "msgpack", allow_changed_job: bool = False):
        from etlcore.ckptstore import normalize, open_store

        self.path: Path | str = normalize(path)  # a Path, or the URL of a remote checkpoint
        self.store: CheckpointStore = open_store(self.path)
        self.job = job
        self.fingerprint = fingerprint
        self.codec = get_codec(state_codec)
        self.allow_changed_job = allow_changed_job
        self.changes: list[str] = []  # what differed from the checkpoint's job (when allowed)
        self.recorded: Any = fingerprint  # the fingerprint the checkpoint was written with
        self.lease: Lease | None = None
        if isinstance(self.path, Path):
            self.lock: CheckpointLock | Lease = CheckpointLock(self.path)
        else:
            from etlcore.lease import Lease

            self.lease = Lease(self.store)
            self.lock = self.lease

    # -- names --------------------------------------------------------------
    @staticmethod
    def _plan_name(batch_id: int) -> str:
        return f"plans/{batch_id:012d}.json"

    @staticmethod
    def _commit_name(batch_id: int) -> str:
        return f"commits/{batch_id:012d}.json"

    @staticmethod
    def _state_name(batch_id: int) -> str:
        return f"state/{batch_id:012d}.state"

    def _state_path(self, batch_id: int) -> Path | str:
        """The snapshot's path or URL (messages, :attr:`Recovery.state_path`)."""
        return self.store.where(self._state_name(batch_id))

    # -- metadata -------------------------------------------------------------
    def open(self) -> None:
        """Lock the directory, then create it or check that it belongs to this job."""
        self.lock.acquire()
        try:
            self._open_locked()
        except BaseException:
            self.lock.release()
            raise

    def close(self) -> None:
        """Release the lock (the process exiting releases it too)."""
        self.lock.release()

    def _open_locked(self) -> None:
        meta_path = "metadata.json"
        if self.store.exists(meta_path):
            data = self._read_bytes(meta_path)
            meta = self._check_metadata(self.store.where(meta_path), data)
            self.recorded = meta.get("fingerprint")
            changes = diff_fingerprints(self.recorded, self.fingerprint)
            if changes and not self.allow_changed_job:
                listing = "".join(f"\n  - {c}" for c in changes)
                raise CheckpointError(
                    f"{self.path} was written by a different version of job '{self.job}'; "
                    f"resuming it would not give the output this job gives:{listing}\n"
                    "(a function shows as module:name#hash; the hash changes with its code "
                    "and what it closes over.)\n"
                    "Use a new checkpoint directory to run the changed job from the start, or "
                    "pass --allow-changed-job (StreamingContext(allow_changed_job=True)) to "
                    "continue from the committed positions (README: 'Changing a job')."
                )
            if changes:
                self.changes = changes
                log.warning("%s: job changed, continuing as allowed: %s", self.path,
                            "; ".join(changes))
                history = list(meta.get("changes") or [])
                history.append({"at": time.time(), "changes": changes})
                self._write_metadata(meta_path, meta.get("created"), history)
            return
        if any(name for name in self.store.names("")
               if name not in ("sources", "dead-letter", "epoch.json", "_lease")):
            raise CheckpointError(
                f"{self.path} is not empty and has no metadata.json: not an etlcore checkpoint"
            )
        self._write_metadata(meta_path, time.time(), [])

    def _write_metadata(self, name: str, created: Any, history: list[Any]) -> None:
        meta = {"format": FORMAT, "version": VERSION, "job": self.job,
                "fingerprint": self.fingerprint, "state_codec": self.codec.name,
                "created": created, "changes": history}
        self.store.write(name, seal(meta))

    def _check_metadata(self, path: str, data: bytes) -> dict[str, Any]:
        try:
            meta = json.loads(data)
        except (ValueError, RecursionError) as err:
            raise CheckpointError(f"corrupt checkpoint file {path}: {err}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(
                f"{self.path} is not an etlcore checkpoint (metadata.json has no "
                f"format '{FORMAT}'); point the job at an empty or its own directory"
            )
        version = meta.get("version")
        if version == 1:
            raise CheckpointError(
                f"{self.path} was written by an older etlcore (checkpoint format 1), whose "
                "fingerprint covers only source and stateful operator keys and whose logs carry "
                "no checksums, so this etlcore cannot tell whether it matches the job. Finish "
                "it with the etlcore that wrote it, or use a new checkpoint directory."
            )
        if version != VERSION:
            raise CheckpointError(
                f"{self.path} was written with checkpoint format {version!r}; this etlcore "
                f"reads format {VERSION}. Use a new checkpoint directory."
            )
        meta = unseal(data, str(path))
        if meta.get("job") != self.job:
            raise CheckpointError(
                f"{self.path} belongs to job {meta.get('job')!r}, not {self.job!r}; "
                "each job needs its own checkpoint directory"
            )
        return meta

    def _read_bytes(self, name: str) -> bytes:
        try:
            return self.store.read(name)
        except OSError as err:
            raise CheckpointError(f"cannot read checkpoint file {self.store.where(name)}: "
                                  f"{err.strerror or err}") from None

    def _read_sealed(self, name: str) -> dict[str, Any]:
        return unseal(self._read_bytes(name), self.store.where(name))

    def check_lock(self) -> None:
        """Raise if a remote checkpoint's lease was lost (local flocks cannot be)."""
        if self.lease is not None:
            self.lease.check()

    # -- logs ---------------------------------------------------------------------
    def write_plan(self, plan: BatchPlan) -> None:
        self.check_lock()
        self.store.write(self._plan_name(plan.batch_id), seal(plan.to_json()))

    def write_commit(self, plan: BatchPlan, records_in: int) -> None:
        entry = {"batch_id": plan.batch_id, "batch_time": plan.batch_time,
                 "positions": plan.end_positions(), "records_in": records_in,
                 "committed_at": time.time()}
        self.check_lock()
        self.store.write(self._commit_name(plan.batch_id), seal(entry))

    def read_plan(self, batch_id: int) -> BatchPlan:
        name = self._plan_name(batch_id)
        path = self.store.where(name)
        data = self._read_sealed(name)
        try:
            plan = BatchPlan.from_json(data)
            ok = plan.batch_id == batch_id and isinstance(plan.ranges, dict) and all(
                isinstance(parts, dict) and all(isinstance(r, list) and len(r) == 2
                                                for r in parts.values())
                for parts in plan.ranges.values())
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"corrupt batch plan {batch_id} ({path}): {err}") from None
        if not ok:
            raise CheckpointError(f"corrupt batch plan {batch_id} ({path}): not the plan of "
                                  f"batch {batch_id}")
        return plan

    def _read_commit(self, batch_id: int) -> tuple[dict[str, Any], float]:
        """A commit's positions and batch time, checked against the batch's own plan."""
        name = self._commit_name(batch_id)
        path = self.store.where(name)
        entry = self._read_sealed(name)
        try:
            positions = entry["positions"]
            batch_time = float(entry["batch_time"])
            if entry["batch_id"] != batch_id or not isinstance(positions, dict):
                raise ValueError(f"not the commit of batch {batch_id}")
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"corrupt commit {batch_id} ({path}): {err}") from None
        if self.store.exists(self._plan_name(batch_id)):
            plan = self.read_plan(batch_id)
            if plan.end_positions() != positions or plan.batch_time != batch_time:
                raise CheckpointError(
                    f"corrupt commit {batch_id} ({path}): its positions {_short(positions)} "
                    f"are not where its plan ({self.store.where(self._plan_name(batch_id))}) "
                    "ends, "
                    f"{_short(plan.end_positions())}")
        return positions, batch_time

    # -- state -------------------------------------------------------------------------
    def write_state(self, batch_id: int, state: dict[str, Any]) -> None:
        body = self.codec.encode(state)
        header = _STATE_MAGIC + self.codec.name.encode().ljust(8) + zlib.crc32(body).to_bytes(4, "big")
        self.check_lock()
        self.store.write(self._state_name(batch_id), header + body)

    def read_state(self, batch_id: int) -> dict[str, Any]:
        path = self._state_path(batch_id)
        data = self._read_bytes(self._state_name(batch_id))
        if not data.startswith(_STATE_MAGIC) or len(data) < 17:
            raise CheckpointError(f"corrupt state snapshot {path}: bad header")
        codec = data[5:13].decode(errors="replace").strip()
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
        missing = [k for k in stateful_keys(self.recorded) if k not in state]
        if missing:
            raise CheckpointError(
                f"corrupt state snapshot {path}: no state for operator(s) "
                f"{', '.join(repr(k) for k in missing)}, which the checkpoint's job has")
        return state

    def usable_state(self, state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The snapshot's entries this job may restore, and the keys it must drop.

        Unchanged jobs restore everything. After an allowed change, an operator
        restores its state only when its own parameters are unchanged; a changed
        or removed one starts empty (its old state was built by other code).
        """
        if not self.changes:
            return state, []
        old = self.recorded.get("nodes", {}) if isinstance(self.recorded, dict) else {}
        new = self.fingerprint.get("nodes", {}) if isinstance(self.fingerprint, dict) else {}
        keep = {k: v for k, v in state.items() if k in new and old.get(k) == new[k]}
        return keep, sorted(k for k in state if k not in keep)

    # -- recovery ----------------------------------------------------------------------
    def recover(self) -> Recovery:
        plans = self.store.ids("plans", ".json")
        commits = self.store.ids("commits", ".json")
        last_committed = commits[-1] if commits else -1
        last_planned = plans[-1] if plans else -1
        # Batch n commits behind batch n+1's tasks (etlcore.pipelining), and n+1's plan is
        # logged before n's commit record: two plans may be open, n's and n+1's, whose
        # writers may both have written. Both replay, in order, with exactly these plans;
        # no sink committed n+1 before n's record, and a replay of n commits it again.
        open_ids = list(range(last_committed + 1, last_planned + 1))
        if len(open_ids) > 2 or any(b not in plans for b in open_ids):
            raise CheckpointError(
                f"checkpoint {self.path} has planned batch {last_planned} but the last "
                f"commit is {last_committed}: the log is corrupt"
            )
        pending = [self.read_plan(b) for b in open_ids]
        snapshots = [s for s in self.store.ids("state", ".state") if s <= last_committed]
        snapshot_batch = snapshots[-1] if snapshots else -1
        state = self.read_state(snapshot_batch) if snapshot_batch >= 0 else None
        dropped: list[str] = []
        if state is not None:
            state, dropped = self.usable_state(state)
        replay = [self.read_plan(b) for b in range(snapshot_batch + 1, last_committed + 1)]
        positions: dict[str, dict[str, Any]] = {}
        last_time = None
        if last_committed >= 0:
            positions, last_time = self._read_commit(last_committed)
        if pending:
            positions = pending[-1].end_positions()
            last_time = pending[-1].batch_time
        return Recovery(last_committed, pending, snapshot_batch, state, replay, positions,
                        last_time, self._state_path(snapshot_batch) if state is not None
                        else None, dropped)

    def prune(self, keep_from: int) -> None:
        """Drop logs and snapshots no recovery can need (older than snapshot ``keep_from``).

        On shared storage every call is a request, so there the files are listed once
        and then deleted in bulk every :data:`REMOTE_PRUNE_EVERY` batches.
        """
        if self.lease is not None:
            self._prune_remote(keep_from)
            return
        for folder, suffix, name_of in (
            ("plans", ".json", self._plan_name),
            ("commits", ".json", self._commit_name),
            ("state", ".state", self._state_name),
        ):
            for batch_id in self.store.ids(folder, suffix):
                if batch_id < keep_from:
                    self.store.remove(name_of(batch_id))

    def _prune_remote(self, keep_from: int) -> None:
        floor: int | None = getattr(self, "_pruned_below", None)
        if floor is not None and keep_from - floor < REMOTE_PRUNE_EVERY:
            return
        doomed = []
        for folder, suffix, name_of in (("plans", ".json", self._plan_name),
                                        ("commits", ".json", self._commit_name),
                                        ("state", ".state", self._state_name)):
            ids = (self.store.ids(folder, suffix) if floor is None
                   else range(floor, keep_from))  # listed once per run
            doomed.extend(name_of(b) for b in ids if b < keep_from)
        self.store.remove_many(doomed)
        self._pruned_below = keep_from
