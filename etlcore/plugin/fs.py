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
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import IO, Any, ClassVar

from etlcore.errors import EtlcoreError

PathLike = str | os.PathLike[str]

# schemes users may ask for before installing the package that provides them
KNOWN_PACKAGES = {"s3": "etlcore-s3", "s3a": "etlcore-s3", "hdfs": "etlcore-hdfs"}


class FileSystem(ABC):
    """The operations a staged-file sink uses; implementations must be picklable."""

    scheme: ClassVar[str] = ""

    @abstractmethod
    def open(self, path: PathLike, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        """A file object (``kwargs`` as for the built-in ``open``, e.g. ``encoding``)."""

    @abstractmethod
    def write(self, path: PathLike, data: bytes) -> None:
        """Create or replace ``path`` with ``data``, durable when it returns."""

    @abstractmethod
    def rename(self, src: PathLike, dst: PathLike) -> None:
        """Move ``src`` to ``dst``, replacing it; readers see the old or the new ``dst``."""

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

    def sync(self, path: PathLike) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


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


def filesystem_for(path: PathLike) -> FileSystem:
    """The file system for ``path``: local for plain paths and ``file://``."""
    scheme = scheme_of(path)
    factory = _factories.get(scheme)
    if factory is None:
        package = KNOWN_PACKAGES.get(scheme)
        hint = f": pip install {package}" if package else " (no installed plugin registers it)"
        raise UnknownFileSystemError(f"no file system for '{scheme}://' paths such as "
                                     f"{os.fspath(path)!r}{hint}")
    return factory()
