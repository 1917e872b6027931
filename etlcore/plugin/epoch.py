"""The checkpoint's epoch: a random id that lives and dies with the checkpoint.

A sink that skips batches it already stored (strategy 3 of :mod:`etlcore.sink`)
keeps "the last batch id I committed" in the target store. Batch ids restart
at 0 when a job starts over with a new checkpoint, so a bare batch id would
make the sink skip every batch up to the old high-water mark: silent data
loss. Storing ``(epoch, batch id)`` instead, and comparing ids only within the
same epoch, makes a new checkpoint start afresh while a restart on the same
checkpoint still skips what it committed.

The epoch is created the first time anyone asks (driver or worker, whichever
comes first; creation is race-free) and kept in ``<checkpoint>/epoch.json``.
Sinks read it through :attr:`etlcore.sink.SinkContext.epoch`.

The file is sealed with a checksum like the checkpoint's other files
(:func:`etlcore.checkpoint.seal`): a damaged epoch read as another value would
make a sink store every batch again (or skip new ones), so it is refused,
naming the file, instead.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from etlcore.checkpoint import seal, unseal
from etlcore.errors import CheckpointError

EPOCH_FILE = "epoch.json"


def local_only(checkpoint_dir: str | os.PathLike[str], who: str) -> None:
    """Raise a CheckpointError if ``who`` needs a local checkpoint directory and has a URL."""
    from etlcore.ckptstore import is_remote

    if is_remote(checkpoint_dir):
        raise CheckpointError(
            f"{who} keeps its own files in a local checkpoint directory, and the checkpoint "
            f"{os.fspath(checkpoint_dir)} is on shared storage: give this job a local (or "
            "mounted shared) checkpoint directory")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint file {path}: {err.strerror}") from None
    epoch = unseal(data, str(path)).get("epoch")
    if not isinstance(epoch, str) or not epoch:
        raise CheckpointError(f"corrupt checkpoint file {path}: no epoch (got {epoch!r})")
    return epoch


def _create(path: Path) -> None:
    """Publish a new epoch unless one exists: link() fails when the name is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, seal({"epoch": uuid.uuid4().hex}))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic and exclusive: two creators agree on the winner
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)


def _remote_epoch(url: str) -> str:
    """The epoch of a checkpoint on shared storage: an exclusive create, then a read."""
    from etlcore.ckptstore import RemoteStore

    store = RemoteStore(url)
    where = store.where(EPOCH_FILE)
    if not store.exists(EPOCH_FILE):
        store.create(EPOCH_FILE, seal({"epoch": uuid.uuid4().hex}))  # the first creator wins
    try:
        data = store.read(EPOCH_FILE)
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint file {where}: {err}") from None
    epoch = unseal(data, where).get("epoch")
    if not isinstance(epoch, str) or not epoch:
        raise CheckpointError(f"corrupt checkpoint file {where}: no epoch (got {epoch!r})")
    return epoch


def checkpoint_epoch(checkpoint_dir: str | os.PathLike[str] | None) -> str | None:
    """The epoch of the checkpoint at ``checkpoint_dir`` (created now if new); None without one."""
    if checkpoint_dir is None:
        return None
    from etlcore.ckptstore import is_remote

    if is_remote(checkpoint_dir):
        return _remote_epoch(os.fspath(checkpoint_dir))
    path = Path(checkpoint_dir) / EPOCH_FILE
    if not path.exists():
        _create(path)
    return _read(path)


def sink_state_dir(checkpoint_dir: str | os.PathLike[str] | None, name: str) -> Path | None:
    """``<checkpoint>/sinks/<name>/``, created; None without a checkpoint.

    A checkpoint on shared storage has no local directory to give: a sink that
    keeps files there cannot use one (a CheckpointError naming it).
    """
    if checkpoint_dir is None:
        return None
    local_only(checkpoint_dir, f"sink '{name}'")
    path = Path(checkpoint_dir) / "sinks" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
