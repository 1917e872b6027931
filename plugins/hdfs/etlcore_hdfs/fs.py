"""HDFS as an etlcore :class:`~etlcore.plugin.fs.FileSystem`, over WebHDFS (HdfsCLI).

Paths are ``hdfs://host:port/path`` (``port``: the NameNode's HTTP port, where
WebHDFS answers). HDFS renames atomically, so ``atomic_rename`` stays True and the
files sink stages: a worker writes ``.part-00000.jsonl.tmp`` beside the final name
and the driver renames it into place at commit (``RENAME`` with
``renameoptions=OVERWRITE``, so a replay replaces the file in one step). Listings
page with ``LISTSTATUS_BATCH`` and ``startAfter`` (the directory source's
``listing: after_last``); reads are ``OPEN`` with an offset and length.

Every call is retried with exponential backoff and jitter
(:func:`etlcore.plugin.retry.retry`) while the NameNode or DataNode is
unreachable, times out, is in safe mode or answers a retriable error, up to
``retries`` attempts: an outage of a minute stalls the job, with a warning per
retry and ``STATS["retries"]`` counting them, instead of failing it. When the
attempts run out the error is :class:`HdfsUnavailableError` (one line naming the
server), never an ``OSError``, so a dead server is not mistaken for a bad file.
Calls are idempotent (creates overwrite, renames overwrite, deletes of a missing
file succeed), so a retry is always safe.

Sides: the object is picklable (its settings travel; HTTP clients are made lazily
in each process, one per NameNode) and shared by the threads of a process.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import IO, Any, ClassVar, TypeVar

from etlcore.errors import EtlcoreError
from etlcore.plugin.fs import FileInfo, FileSystem, PathLike, Upload, open_whole
from etlcore.plugin.imports import require_module
from etlcore.plugin.retry import retry
from etlcore_hdfs.config import HdfsOptions, default_user, split_url
from etlcore_hdfs.reads import Reader, usable
from etlcore_hdfs.upload import StreamUpload

log = logging.getLogger("etlcore.hdfs")
T = TypeVar("T")

#: per process: calls made, retries after transient errors (outages show here)
STATS: Counter[str] = Counter()

#: Java exceptions the NameNode or DataNode answers that a later attempt may not get
TRANSIENT_EXCEPTIONS = {
    "RetriableException", "StandbyException", "SafeModeException", "IOException",
    "ConnectException", "SocketTimeoutException", "NoRouteToHostException",
    "AlreadyBeingCreatedException", "RecoveryInProgressException",
    "LeaseExpiredException", "ServerNotRunningYetException",
}


class HdfsUnavailableError(EtlcoreError):
    """HDFS did not answer (or kept failing) through every retry of a call."""


def _hdfs() -> Any:
    return require_module("hdfs", "etlcore-hdfs", feature="hdfs:// paths")


_client_class: Any = None


def client_class() -> Any:
    """HdfsCLI's ``InsecureClient`` plus the one operation it lacks, ``LISTSTATUS_BATCH``.

    HdfsCLI builds each call from a ``_Request`` (its own way to define operations);
    its metaclass derives the name from the attribute and drops underscores, so this
    one is built with the name given.
    """
    global _client_class
    if _client_class is None:
        client = _hdfs().client

        class Client(client.InsecureClient):  # type: ignore[misc, name-defined]
            _list_status_batch = client._Request("GET").to_method("LISTSTATUS_BATCH")

        _client_class = Client
    return _client_class


def _exception(err: BaseException) -> str | None:
    """The Java exception name of an HdfsCLI error, if it is one."""
    return getattr(err, "exception", None) if type(err).__name__ == "HdfsError" else None


def transient(err: BaseException) -> bool:
    """An error a later attempt may not get: unreachable, timed out, safe mode, 5xx."""
    import requests
    import urllib3

    if isinstance(err, (requests.ConnectionError, requests.Timeout,
                        requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError,
                        ConnectionError, TimeoutError)):
        return True
    if type(err).__name__ == "HdfsError":
        name = _exception(err)
        if name is None:  # no RemoteException body: a proxy's or a starting server's 5xx
            return not str(err).startswith("Authentication failure")
        return name in TRANSIENT_EXCEPTIONS
    return False


def _as_os_error(err: BaseException, path: str) -> BaseException:
    """A missing file or a denied one as the OSError the connectors understand."""
    name = _exception(err)
    if name == "FileNotFoundException":
        return FileNotFoundError(2, f"no such file: {path}")
    if name in ("AccessControlException", "SecurityException"):
        return PermissionError(13, f"permission denied: {path}: {err}")
    return err


def session_for(url: str) -> Any:
    """A ``requests`` session for the NameNode at ``url``, which skips the environment when
    it holds nothing for it.

    By default requests looks up proxies, ``no_proxy``, CA bundles and ``.netrc`` in the
    environment on every request and every redirect (each OPEN is two: NameNode, then
    DataNode): 0.025 CPU-seconds per 128 MB read in 8 MB files, a tenth of the job's own.
    When none of them can apply (a CA bundle only to https), those lookups can only find
    nothing, so the session stops making them; when any can, it makes them as before.
    """
    import requests

    session = requests.Session()
    if usable(url):
        session.trust_env = False
    return session


class HdfsFileSystem(FileSystem):
    """HDFS through WebHDFS; the settings are an :class:`~etlcore_hdfs.config.HdfsOptions`."""

    scheme: ClassVar[str] = "hdfs"
    atomic_rename: ClassVar[bool] = True
    #: a WebHDFS CREATE makes the missing parents (``createparent`` defaults to true):
    #: a writer's MKDIRS before it was a NameNode round trip a batch before the first byte
    creates_parents: ClassVar[bool] = True

    def __init__(self, options: HdfsOptions):
        self.options = options
        self.read_ahead = options.read_ahead
        self._clients: dict[str, Any] = {}
        self._reader = Reader(self.user, options.timeout)
        self._lock = threading.Lock()
        self._prepared: dict[str, tuple[str, Future[None]]] = {}  # path -> its empty temp

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}  # never a client or a lock

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"HdfsFileSystem(user={self.user!r}, https={self.options.https})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HdfsFileSystem) and other.options == self.options

    def __hash__(self) -> int:
        return hash((type(self), self.options.user, self.options.https))

    @property
    def user(self) -> str:
        return self.options.user or default_user()

    # -- clients ------------------------------------------------------------------
    def base_url(self, netloc: str) -> str:
        return f"{'https' if self.options.https else 'http'}://{netloc}"

    def client(self, netloc: str) -> Any:
        """The HdfsCLI client of the NameNode at ``host:port`` (one per process)."""
        client = self._clients.get(netloc)
        if client is None:
            with self._lock:
                client = self._clients.get(netloc)
                if client is None:
                    client = client_class()(self.base_url(netloc), user=self.user,
                                            timeout=self.options.timeout,
                                            session=session_for(self.base_url(netloc)))
                    self._clients[netloc] = client
        return client

    def call(self, what: str, path: PathLike, fn: Callable[[Any, str], T]) -> T:
        """``fn(client, hdfs_path)`` retried while HDFS is unreachable or failing."""
        netloc, hdfs_path = split_url(str(path))
        client = self.client(netloc)

        def attempt() -> T:
            STATS["calls"] += 1
            try:
                return fn(client, hdfs_path)
            except Exception as err:
                if transient(err):
                    STATS["retries"] += 1
                    raise
                raise _as_os_error(err, str(path)) from None

        o = self.options
        try:
            return retry(attempt, attempts=o.retries, base=0.2, cap=o.retry_cap,
                         retry_on=transient, what=f"HDFS {what} {path}")
        except Exception as err:
            if not transient(err):
                raise
            raise HdfsUnavailableError(
                f"HDFS at {self.base_url(netloc)} did not answer {what} {path} in "
                f"{o.retries} attempts: {type(err).__name__}: {err}") from None

    # -- FileSystem ----------------------------------------------------------------
    def open(self, path: PathLike, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        return open_whole(self, path, mode, **kwargs)

    def write(self, path: PathLike, data: bytes) -> None:
        """CREATE with overwrite: the DataNode answers once the file is closed.

        An empty file made ahead by :meth:`prepare_empty` is renamed into place instead.
        """
        with self._lock:
            prepared = self._prepared.pop(str(path), None) if not data else None
        if prepared is not None:
            tmp, made = prepared
            try:
                made.result()
                if self.rename_present(tmp, path):
                    return
            except Exception as err:  # noqa: BLE001 - the CREATE below is what it saves
                log.debug("%s: made ahead, not renamed (%s); created now", path, err)
        self.call("CREATE", path, lambda c, p: c.write(p, data, overwrite=True))

    def prepare_empty(self, path: PathLike) -> None:
        """Create the empty file as ``.<name>.tmp`` beside ``path`` now, on a thread of
        its own, and make the ``write(path, b"")`` that follows one RENAME of it.

        A CREATE is a NameNode redirect and a DataNode create and close: 6-57 ms on the
        files sink's commit for its ``_SUCCESS``, with the next batch's stream going to
        the same DataNode, against 1.7-10 ms for a RENAME. The temp name is fixed, so a
        replay's overwrites the one a killed commit left.
        """
        head, _, name = str(path).rpartition("/")
        tmp = f"{head}/.{name}.tmp"
        made: Future[None] = Future()

        def make() -> None:
            try:
                self.call("CREATE", tmp, lambda c, p: c.write(p, b"", overwrite=True))
            except BaseException as err:  # noqa: BLE001 - handed to the write that waits
                made.set_exception(err)
            else:
                made.set_result(None)

        with self._lock:
            self._prepared[str(path)] = (tmp, made)
        threading.Thread(target=make, daemon=True, name="etlcore-hdfs-prepare").start()

    def upload(self, path: PathLike) -> Upload:
        """Chunks go to the DataNode as they come (see :class:`StreamUpload`)."""
        return StreamUpload(self, str(path))

    def finish(self, pending: list[Any]) -> None:
        """Wait for each handed-off stream's close (:class:`Closing`): whole when this
        returns, under its temp name."""
        for closing in pending:
            closing.finish()

    def discard(self, pending: list[Any]) -> None:
        """Let each handed-off stream close, then delete its file."""
        for closing in pending:
            closing.discard()

    def rename(self, src: PathLike, dst: PathLike) -> None:
        """Atomic replace (``RENAME`` with ``renameoptions=OVERWRITE``).

        If a retried rename finds ``src`` gone and ``dst`` there, an earlier attempt
        went through and only its answer was lost.
        """
        _, dst_path = split_url(str(dst))
        retried = False

        def rename(c: Any, p: str) -> None:
            nonlocal retried
            try:
                c._rename(p, destination=dst_path, renameoptions="OVERWRITE")
            except Exception as err:
                if (retried and _exception(err) == "FileNotFoundException"
                        and c.status(dst_path, strict=False) is not None):
                    return
                retried = retried or transient(err)
                raise

        self.call("RENAME", src, rename)

    def rename_present(self, src: PathLike, dst: PathLike) -> bool:
        """One RENAME: its FileNotFoundException says ``src`` is missing (no
        GETFILESTATUS before it, a NameNode round trip per part of every commit)."""
        try:
            self.rename(src, dst)
        except FileNotFoundError:
            return False
        return True

    def exists(self, path: PathLike) -> bool:
        """GETFILESTATUS; only a FileNotFoundException means False (HdfsCLI's non-strict
        status would also say None for a 5xx or safe mode, and a commit would skip a file)."""
        try:
            return self.call("GETFILESTATUS", path, lambda c, p: c.status(p) is not None)
        except FileNotFoundError:
            return False

    def listdir(self, path: PathLike) -> list[str]:
        return sorted(info.name for info in self.list(path))

    def list(self, path: PathLike, start_after: str | None = None) -> Iterator[FileInfo]:
        """Files directly in ``path``, by ``LISTSTATUS_BATCH`` pages from ``startAfter``."""
        after = start_after
        while True:
            page = self._page(path, after)
            if page is None:
                return
            entries, remaining = page
            for st in entries:
                if st["type"] == "FILE":
                    yield FileInfo(st["pathSuffix"], int(st["length"]),
                                   int(st["modificationTime"]) * 1_000_000)
            if not remaining or not entries:
                return
            after = entries[-1]["pathSuffix"]

    def _page(self, path: PathLike, after: str | None) -> tuple[list[Any], int] | None:
        """One listing page and how many entries remain; None if ``path`` does not exist."""
        params = {"startAfter": after} if after is not None else {}
        try:
            listing = self.call("LISTSTATUS_BATCH", path, lambda c, p: c._list_status_batch(
                p, **params).json()["DirectoryListing"])
        except FileNotFoundError:
            return None
        statuses = listing["partialListing"]["FileStatuses"]["FileStatus"]
        if len(statuses) == 1 and not statuses[0]["pathSuffix"]:
            return None  # ``path`` is a file, not a directory
        return statuses, int(listing.get("remainingEntries", 0))

    def mkdirs(self, path: PathLike) -> None:
        self.call("MKDIRS", path, lambda c, p: c.makedirs(p))

    def remove(self, path: PathLike) -> None:
        """DELETE; a missing file is fine (answers ``false``)."""
        self.call("DELETE", path, lambda c, p: c.delete(p))

    def read(self, path: PathLike, start: int = 0, length: int | None = None) -> bytes:
        """The file, or ``length`` bytes from ``start`` (OPEN, through the DataNode)."""
        if length is not None and length <= 0:
            return b""

        def read(c: Any, p: str) -> bytes:
            # inside the retry: a cut stream is read again. A session that skips the
            # environment (session_for: nothing there applies) reads on urllib3's pool
            if not c._session.trust_env:
                return self._reader.read(c.url, p, start, length)
            with c.read(p, offset=start, length=length) as reader:
                return bytes(reader.read())

        return self.call("OPEN", path, read)

    def check_reachable(self, path: str) -> None:
        """Fail early, naming the NameNode, when it does not answer (after the retries)."""
        netloc, _ = split_url(path)
        self.call("GETFILESTATUS", f"hdfs://{netloc}/", lambda c, p: c.status(p))

    # -- for a checkpoint on HDFS (etlcore.ckptstore) --------------------------------------
    def create_exclusive(self, path: PathLike, data: bytes) -> bool:
        """CREATE without overwrite: False when the file exists (FileAlreadyExistsException).

        A retry after a lost answer also finds the file; the caller tells its own
        file from another's by its content (a lease names its owner).
        """
        try:
            self.call("CREATE (no overwrite)", path,
                      lambda c, p: c.write(p, data, overwrite=False))
        except Exception as err:
            if _exception(err) == "FileAlreadyExistsException":
                return False
            raise
        return True

    def check_location(self, path: PathLike) -> str | None:
        """An ``hdfs://`` URL must name the NameNode (its WebHDFS port)."""
        try:
            split_url(str(path))
        except ValueError:
            return "an hdfs://host:port/path URL (port: the NameNode's WebHDFS port, e.g. 9870)"
        return None
