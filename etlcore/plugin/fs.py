"""A small file-system interface, so staged-file sinks are not tied to local disks.

:class:`etlcore.sink.StagedFileSink` needs only a handful of operations:
write a temp file, make it durable, rename it into place, check, list and
remove. :class:`LocalFileSystem` implements them with ``os``; an object store
or HDFS implements the same methods (``rename`` as copy-and-delete where the
store has no rename: the final name still appears only once complete) and
registers its URL scheme:

    register_filesystem("s3", lambda: S3FileSystem())
    fs = filesystem_for("s3://bucket/out")     # -> the S3FileSystem

Paths are strings (or ``os.PathLike``): local paths, or URLs with a scheme.

Sources that watch a directory also use :meth:`FileSystem.list` (names with
sizes and mtimes, optionally only those after a name: S3's start-after) and
:meth:`FileSystem.read` (whole files or byte ranges). A store without an
atomic rename sets ``atomic_rename = False``: sinks then write final names
directly and publish a batch with a manifest instead (see
:mod:`etlcore.connectors.files`).
"""

from __future__ import annotations

import contextlib
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from etlcore.errors import EtlcoreError

PathLike = str | os.PathLike[str]

# schemes users may ask for before installing the package that provides them
KNOWN_PACKAGES = {"s3": "etlcore-s3", "s3a": "etlcore-s3", "hdfs": "etlcore-hdfs"}


@dataclass(frozen=True)
class FileInfo:
    """One file of a listing: its name in the directory, size in bytes, mtime in ns."""

    name: str
    size: int
    mtime_ns: int


class FileSystem(ABC):
    """The operations staged-file sinks and directory sources use; must be picklable."""

    scheme: ClassVar[str] = ""
    #: False for object stores: rename is a copy, so sinks publish with manifests instead
    atomic_rename: ClassVar[bool] = True
    #: ``write`` and ``upload`` create the missing parent directories themselves (a
    #: WebHDFS CREATE does), so writers skip their ``mkdirs``: a round trip a batch
    creates_parents: ClassVar[bool] = False
    #: files a directory source fetches ahead while it parses one (remote stores: more
    #: than one keeps the network busy; each costs a file's bytes in memory)
    read_ahead: int = 1

    @abstractmethod
    def open(self, path: PathLike, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        """A file object (``kwargs`` as for the built-in ``open``, e.g. ``encoding``)."""

    @abstractmethod
    def write(self, path: PathLike, data: bytes) -> None:
        """Create or replace ``path`` with ``data``, durable when it returns."""

    @abstractmethod
    def rename(self, src: PathLike, dst: PathLike) -> None:
        """Move ``src`` to ``dst``, replacing it; readers see the old or the new ``dst``."""

    def prepare_empty(self, path: PathLike) -> None:  # noqa: B027 - a hint, nothing by default
        """A hint: ``path`` is soon written empty (``write(path, b"")``, the files sink's
        ``_SUCCESS``). A store whose create is slower than its rename may make the empty
        file under a hidden name now and rename it into place at that write."""

    def rename_present(self, src: PathLike, dst: PathLike) -> bool:
        """``rename`` if ``src`` exists: False (nothing done) when it does not.

        A commit that may find its temp file gone (a replay) asks this. By default
        it asks ``exists`` first; a store whose rename itself says the source is
        missing overrides it with that one round trip."""
        if not self.exists(src):
            return False
        self.rename(src, dst)
        return True

    @abstractmethod
    def exists(self, path: PathLike) -> bool: ...

    @abstractmethod
    def listdir(self, path: PathLike) -> list[str]:
        """Names (not paths) in a directory, sorted; [] when it does not exist."""

    @abstractmethod
    def mkdirs(self, path: PathLike) -> None:
        """Create a directory and its parents (nothing to do on object stores)."""

    @abstractmethod
    def remove(self, path: PathLike) -> None:
        """Delete a file; a missing file is not an error (abort and replays race)."""

    def sync(self, path: PathLike) -> None:  # noqa: B027 - durable on return elsewhere
        """Make a written file, or the renames in a directory, survive a crash."""

    def join(self, path: PathLike, *names: str) -> str:
        """``path/name/...``: ``os.path.join`` locally, ``/``-joined for URLs."""
        text = os.fspath(path)
        if not scheme_of(text):
            return os.path.join(text, *names)
        return "/".join([text.rstrip("/"), *names])

    def list(self, path: PathLike, start_after: str | None = None) -> Iterator[FileInfo]:
        """Files (not directories) directly in ``path``, with names after ``start_after``
        if given; any order. Nothing when ``path`` does not exist."""
        for name in self.listdir(path):
            if start_after is not None and name <= start_after:
                continue
            yield FileInfo(name, 0, 0)  # sizes and mtimes unknown: override where known

    def read(self, path: PathLike, start: int = 0, length: int | None = None) -> bytes:
        """The file's bytes, or ``length`` bytes from ``start``; FileNotFoundError if gone."""
        with self.open(path, "rb") as f:
            if start:
                f.seek(start)
            return f.read() if length is None else f.read(length)

    def absolute(self, path: PathLike) -> str:
        """``path`` independent of the working directory (URLs are already)."""
        text = local_path(path)
        return text if scheme_of(text) else os.path.abspath(text)

    # -- what a checkpoint on this file system needs (see etlcore.ckptstore) ---------
    def create_exclusive(self, path: PathLike, data: bytes) -> bool:
        """Create ``path`` with ``data`` unless it exists: True if this call created it.

        The check and the create are one step on the server (two creators of one
        name: exactly one gets True), which is what a lease needs. A store without
        such a call cannot hold a checkpoint lease.
        """
        raise NotImplementedError(f"{type(self).__name__} has no exclusive create")

    def remove_many(self, paths: list[PathLike]) -> None:
        """Delete files, missing ones included (stores with a bulk delete override this)."""
        for path in paths:
            self.remove(path)

    def check_location(self, path: PathLike) -> str | None:
        """What is wrong with ``path`` as a location on this file system (None: nothing)."""
        return None

    def upload(self, path: PathLike) -> Upload:
        """``path`` written chunk by chunk: durable and visible when ``close`` returns,
        never when ``abort`` is called. The default buffers and stores at ``close``; a
        store that can send while more bytes come (S3's multipart) overrides it."""
        return WholeFileWriter(self, os.fspath(path))

    # -- uploads published later (Upload.close_deferred): stores without a rename ----------
    def finish(self, pending: list[Any]) -> None:  # noqa: B027 - nothing pending by default
        """Publish the files whose uploads ``Upload.close_deferred`` left pending (its
        tokens, from any process): each is whole and visible when this returns. Nothing
        to do on a store whose ``close_deferred`` closes (the default)."""

    def discard(self, pending: list[Any]) -> None:  # noqa: B027
        """Drop pending uploads (their tokens): none of them is ever published."""

    def discard_unfinished(self, paths: list[str], keep: list[Any]) -> None:  # noqa: B027
        """Drop the pending uploads to ``paths`` other than ``keep``: those a killed
        attempt left behind, which its replay writes again under new uploads."""


class Upload(ABC):
    """A file being written in chunks (see :meth:`FileSystem.upload`)."""

    @abstractmethod
    def write(self, data: Any) -> int: ...

    @abstractmethod
    def close(self) -> None:
        """Store what was written; the file is whole when this returns."""

    @abstractmethod
    def abort(self) -> None:
        """Give up: nothing (more) of this file is stored."""

    def close_deferred(self, in_process: bool = False) -> Any:
        """Store what was written but leave publishing it to :meth:`FileSystem.finish`:
        a small picklable token for that, or None when the file is whole already.

        A sink that publishes at commit anyway (the files sink without a rename) calls
        this on its writers, so the last step of an upload (S3's
        CompleteMultipartUpload) runs at the commit, off the task's path. With
        ``in_process`` (the token stays in this process: a task on the driver) the
        store may return before its last bytes are stored, with a token holding the
        work still in flight, which ``finish`` waits for (``discard`` stops it): the
        task ends once its bytes are handed off. By default it is ``close``.
        """
        self.close()
        return None

    def expect(self, size: int) -> bool:
        """A hint before the first ``write``: about ``size`` bytes will come (the
        writer's last file of this partition). True if the store starts its upload now
        (S3 creates its multipart upload while the writer reads its first input);
        by default it does nothing and says False."""
        return False


class WholeFileWriter(io.RawIOBase, Upload):
    """A remote file opened for writing: buffered, then stored in one ``fs.write`` on close.

    For stores that create a file in one request (an S3 PUT or multipart upload,
    a WebHDFS CREATE): nothing is visible until ``close``. Chunks are kept as
    given (no BytesIO copy), so the files sink's one ``write`` of a partition's
    bytes reaches the store as it is.
    """

    def __init__(self, fs: FileSystem, path: str):
        super().__init__()
        self._fs, self._path = fs, path
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)  # no copy for bytes; a view or bytearray may change after
        self._chunks.append(chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks = []
            super().close()
            self._fs.write(self._path, data)

    def abort(self) -> None:
        self._chunks = []
        if not self.closed:
            super().close()


def open_whole(fs: FileSystem, path: PathLike, mode: str, **kwargs: Any) -> IO[Any]:
    """``fs.open`` for stores that read and write whole files: reads fetch the file,
    writes go through a :class:`WholeFileWriter`; text modes wrap either."""
    text = os.fspath(path)
    if "r" in mode:
        raw: IO[bytes] = io.BytesIO(fs.read(text))
    elif "w" in mode:
        raw = WholeFileWriter(fs, text)  # type: ignore[assignment]
    else:
        raise ValueError(f"{type(fs).__name__} opens files for reading or writing whole, "
                         f"not {mode!r}")
    return raw if "b" in mode else io.TextIOWrapper(raw, **kwargs)  # type: ignore[arg-type]


class LocalFileSystem(FileSystem):
    """The local (or a mounted shared) file system, fsyncing files and directories."""

    scheme = "file"

    def open(self, path: PathLike, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        return open(path, mode, **kwargs)  # noqa: SIM115 - the caller closes it

    def write(self, path: PathLike, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def rename(self, src: PathLike, dst: PathLike) -> None:
        os.replace(src, dst)

    def upload(self, path: PathLike) -> Upload:
        return _LocalUpload(os.fspath(path))

    def exists(self, path: PathLike) -> bool:
        return os.path.exists(path)

    def listdir(self, path: PathLike) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def mkdirs(self, path: PathLike) -> None:
        os.makedirs(path, exist_ok=True)

    def remove(self, path: PathLike) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def list(self, path: PathLike, start_after: str | None = None) -> Iterator[FileInfo]:
        try:
            entries = list(os.scandir(path))
        except FileNotFoundError:
            return
        for entry in entries:
            if start_after is not None and entry.name <= start_after:
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:  # renamed or removed while we looked
                continue
            yield FileInfo(entry.name, st.st_size, st.st_mtime_ns)

    def sync(self, path: PathLike) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def create_exclusive(self, path: PathLike, data: bytes) -> bool:
        """A temp file linked to ``path``: ``link`` fails when the name is taken."""
        text = os.fspath(path)
        os.makedirs(os.path.dirname(text) or ".", exist_ok=True)
        tmp = f"{text}.{os.getpid()}.{id(data):x}.tmp"
        self.write(tmp, data)
        try:
            os.link(tmp, text)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        self.sync(os.path.dirname(text) or ".")
        return True

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class _LocalUpload(Upload):
    """A local file written as the chunks come, fsynced at ``close``, removed at ``abort``."""

    def __init__(self, path: str):
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 - closed by close or abort

    def write(self, data: Any) -> int:
        return self.file.write(data)

    def close(self) -> None:
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()

    def abort(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class UnknownFileSystemError(EtlcoreError):
    """A path's URL scheme that no installed plugin registered."""


_factories: dict[str, Callable[[], FileSystem]] = {"file": LocalFileSystem, "": LocalFileSystem}


def register_filesystem(scheme: str, factory: Callable[[], FileSystem]) -> None:
    """Make ``scheme://`` paths use ``factory()`` (a plugin calls this when it loads)."""
    _factories[scheme.lower()] = factory


def scheme_of(path: PathLike) -> str:
    text = os.fspath(path)
    head, sep, _ = text.partition("://")
    return head.lower() if sep and head.isidentifier() else ""


def local_path(path: PathLike) -> str:
    """``file:///x`` -> ``/x``; any other path or URL unchanged."""
    text = os.fspath(path)
    return text[len("file://"):] if text.lower().startswith("file://") else text


def filesystem_for(path: PathLike, load_plugins: bool = False) -> FileSystem:
    """The file system for ``path``: local for plain paths and ``file://``.

    ``load_plugins`` first loads the installed plugins (their entry points), so a
    connector built outside a job still finds the schemes they register.
    """
    scheme = scheme_of(path)
    if load_plugins and scheme not in _factories:
        from etlcore.plugin.registry import get_registry

        get_registry()
    factory = _factories.get(scheme)
    if factory is None:
        package = KNOWN_PACKAGES.get(scheme)
        hint = f": pip install {package}" if package else " (no installed plugin registers it)"
        raise UnknownFileSystemError(f"no file system for '{scheme}://' paths such as "
                                     f"{os.fspath(path)!r}{hint}")
    return factory()
