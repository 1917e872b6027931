"""Where a checkpoint's files live: a local directory, or a URL on a shared store.

:class:`etlcore.checkpoint.Checkpoint` reads and writes whole named files
(``plans/000000000007.json``) through a :class:`CheckpointStore`:

- :class:`LocalStore`: a local (or mounted) directory; the code path and speed
  of before (``atomic_write``: temp, fsync, rename, fsync the directory).
- :class:`RemoteStore`: any :class:`~etlcore.plugin.fs.FileSystem` a plugin
  registers (``s3://bucket/prefix``, ``hdfs://namenode:9870/path``). A write is
  atomic per file: where the store renames atomically (HDFS) a temp file is
  renamed over the name; where it does not (S3) the final key is written in one
  PUT, which S3 makes visible whole or not at all. Nothing appends or renames on
  S3: every log is one object per batch and "the latest" is found by listing.

:func:`open_store` picks one by the URL scheme; :func:`check_location` is the
config check (``checkpoint=``) that runs before anything else.
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from etlcore.errors import ConfigError
from etlcore.plugin.fs import (
    FileSystem,
    UnknownFileSystemError,
    filesystem_for,
    local_path,
    scheme_of,
)

Location = str | os.PathLike[str]


def is_remote(location: Location | None) -> bool:
    """True for a URL with a scheme other than ``file://``."""
    return location is not None and scheme_of(location) not in ("", "file")


def normalize(location: Location) -> Path | str:
    """A local checkpoint as a Path (``file://`` stripped), a remote one as its URL string.

    ``Path("s3://b/x")`` would collapse the ``//`` and make a local directory ``s3:``.
    """
    if is_remote(location):
        head, sep, rest = os.fspath(location).partition("://")
        return head + sep + rest.rstrip("/")  # "s3://" stays a URL (and fails the check)
    return Path(local_path(location))


def check_location(location: Location, key: str = "checkpoint") -> Path | str:
    """The checkpoint location, normalized; a ConfigError naming ``key`` if it is unusable.

    Loads the plugins, so an unknown scheme and one whose plugin is not installed
    are told apart ("pip install etlcore-s3").
    """
    if not isinstance(location, (str, os.PathLike)) or not os.fspath(location):
        raise ConfigError(key, "a directory path or an s3:// / hdfs:// URL", location)
    where = normalize(location)
    if isinstance(where, Path):
        return where
    try:
        fs = filesystem_for(where, load_plugins=True)
    except UnknownFileSystemError as err:
        raise ConfigError(key, f"a local path or a URL of an installed file system ({err})",
                          where) from None
    problem = fs.check_location(where)
    if problem is not None:
        raise ConfigError(key, problem, where)
    if type(fs).create_exclusive is FileSystem.create_exclusive:
        raise ConfigError(key, f"a location on a file system with exclusive creates "
                          f"({type(fs).__name__} has none, so two runs could share it)", where)
    return where


class CheckpointStore(ABC):
    """Whole files under one root, named by ``/``-separated relative names."""

    #: the root, as the user gave it (for messages)
    root: Path | str

    def where(self, name: str) -> str:
        """The file's full path or URL, for error messages."""
        return f"{os.fspath(self.root).rstrip('/')}/{name}"

    @abstractmethod
    def read(self, name: str) -> bytes:
        """The file's bytes; FileNotFoundError when it does not exist."""

    @abstractmethod
    def write(self, name: str, data: bytes) -> None:
        """Create or replace the file atomically: a reader sees the old or the new bytes."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def names(self, folder: str) -> list[str]:
        """Names of the files directly in ``folder`` (not temp files), sorted."""

    @abstractmethod
    def remove(self, name: str) -> None:
        """Delete the file; a missing one is fine."""

    @abstractmethod
    def create(self, name: str, data: bytes) -> bool:
        """Create the file unless it exists, in one step: True if this call created it."""

    def remove_many(self, names: list[str]) -> None:
        """Delete files (missing ones are fine); one request per 1000 where the store can."""
        for name in names:
            self.remove(name)

    def ids(self, folder: str, suffix: str) -> list[int]:
        """Batch ids of ``<folder>/<id><suffix>`` files, ascending."""
        out = []
        for name in self.names(folder):
            if name.endswith(suffix):
                stem = name[: -len(suffix)]
                if stem.isdigit():
                    out.append(int(stem))
        return sorted(out)

    def sub(self, folder: str) -> CheckpointStore:
        """The same store rooted at ``folder`` (a source's or sink's own files)."""
        raise NotImplementedError


class LocalStore(CheckpointStore):
    """A local directory; writes are :func:`etlcore.checkpoint.atomic_write`."""

    def __init__(self, root: Location):
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        from etlcore.checkpoint import atomic_write

        atomic_write(self._path(name), data)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def names(self, folder: str) -> list[str]:
        path = self._path(folder) if folder else self.root
        if not path.is_dir():
            return []
        return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def create(self, name: str, data: bytes) -> bool:
        from etlcore.plugin.fs import LocalFileSystem

        return LocalFileSystem().create_exclusive(self._path(name), data)

    def sub(self, folder: str) -> LocalStore:
        return LocalStore(self.root / folder)


class RemoteStore(CheckpointStore):
    """A URL on a plugin's file system (S3, HDFS); picklable (the fs is)."""

    def __init__(self, root: str, fs: FileSystem | None = None):
        self.root = str(normalize(root))
        self.fs = fs if fs is not None else filesystem_for(self.root, load_plugins=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "fs": self.fs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.root, self.fs = state["root"], state["fs"]

    def _url(self, name: str) -> str:
        return f"{self.root}/{name}" if name else self.root

    def read(self, name: str) -> bytes:
        return self.fs.read(self._url(name))

    def write(self, name: str, data: bytes) -> None:
        url = self._url(name)
        if not self.fs.atomic_rename:
            self.fs.write(url, data)  # one PUT: the object appears whole or not at all
            return
        head, _, base = url.rpartition("/")
        tmp = f"{head}/.{base}.{uuid.uuid4().hex}.tmp"
        self.fs.write(tmp, data)
        try:
            self.fs.rename(tmp, url)
        except BaseException:
            self.fs.remove(tmp)
            raise

    def exists(self, name: str) -> bool:
        return self.fs.exists(self._url(name))

    def names(self, folder: str) -> list[str]:
        return sorted(info.name for info in self.fs.list(self._url(folder))
                      if not info.name.startswith("."))

    def remove(self, name: str) -> None:
        self.fs.remove(self._url(name))

    def create(self, name: str, data: bytes) -> bool:
        return self.fs.create_exclusive(self._url(name), data)

    def remove_many(self, names: list[str]) -> None:
        self.fs.remove_many([self._url(n) for n in names])

    def sub(self, folder: str) -> RemoteStore:
        return RemoteStore(self._url(folder), self.fs)


def open_store(location: Location) -> CheckpointStore:
    """The store for a checkpoint location (local path, ``file://``, or a plugin's URL)."""
    where = normalize(location)
    return LocalStore(where) if isinstance(where, Path) else RemoteStore(where)
