"""A file sent to HDFS while its writer produces the rest.

WebHDFS CREATE takes a chunked request body, so the first chunk goes to the
DataNode while the task still parses and encodes the next: a thread sends the
chunks from a queue as they come. One streamed attempt cannot be retried (its
body is gone), so the chunks are also kept, and if the stream fails, ``close``
writes them again with the file system's retried ``write``: a NameNode or
DataNode outage mid-file costs a second send, never the file. The written path
is a temp name the files sink renames at commit, so a half-sent attempt is
never seen.

A WebHDFS CREATE is two requests: the NameNode names a DataNode (a redirect; no
file exists yet), then the body goes to the DataNode, which creates the file. The
sender asks the NameNode as soon as it starts and sends nothing to the DataNode
before the first chunk, so :meth:`StreamUpload.expect` can start it while the
writer reads its first input (as S3 creates its multipart upload): the redirect
(a NameNode round trip, 3-16 ms) is off the write's path, and an expected upload
that gets no bytes and is aborted has created nothing.

The answer to the CREATE comes once the DataNode has closed the file with the
NameNode (20-40 ms after the last byte on the test cluster, 400 ms when the
NameNode's ``complete`` loses a race with the block report). A writer whose
message stays in its process (the local runner's) does not wait for it:
``close_deferred(in_process=True)`` ends the body and returns a
:class:`Closing`, which :meth:`HdfsFileSystem.finish` waits for at the commit,
before the rename; the next batch's task reads and sends meanwhile.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from etlcore.plugin.fs import Upload
from etlcore_hdfs.config import split_url

if TYPE_CHECKING:
    from etlcore_hdfs.fs import HdfsFileSystem

_END = object()

#: urllib3 frames each piece of a chunked body by copying it into a new ``bytes``; a
#: whole 8 MB chunk made that a fresh 8 MB allocation (2,000 page faults) with the GIL
#: held for the copy, a 1 MiB piece reuses the heap's memory (15 ms less system CPU
#: per 32 MB sent)
PIECE = 1 << 20


def _hdfs_client() -> Any:
    """HdfsCLI's client module (its ``_to_error`` turns a WebHDFS answer into HdfsError)."""
    import hdfs.client

    return hdfs.client


def _closed() -> None:
    """What a :class:`Closing` becomes in another process: nothing left to finish."""


class Closing:
    """A streamed file whose body has ended, its answer still to come
    (``close_deferred(in_process=True)``). It holds the sender thread, so it stays
    in its process: pickled after all, it waits for the close and travels as None."""

    def __init__(self, upload: StreamUpload):
        self.upload = upload

    def finish(self) -> None:
        """Wait for the answer (a failed stream: the kept chunks written again)."""
        self.upload.close()

    def discard(self) -> None:
        """Wait for the answer, then delete the file (never published)."""
        self.upload.abort()

    def __reduce__(self) -> tuple[Any, ...]:
        self.finish()
        return (_closed, ())


class StreamUpload(Upload):
    """``write`` bytes, then ``close`` (stored) or ``abort`` (nothing visible kept)."""

    def __init__(self, fs: HdfsFileSystem, path: str):
        self.fs, self.path = fs, path
        self.chunks: list[bytes] = []
        self.pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.sender: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.closed = False
        self.ended = False  # the body's end is queued
        self.aborting = False  # an ended body is dropped, not sent (``abort``)
        self.put = False  # the body's request to the DataNode began: a file may exist
        self.first: Any = None  # the body's first chunk, taken before the PUT

    def expect(self, size: int) -> bool:
        """Start the sender now: it asks the NameNode for the DataNode while the writer
        produces its first bytes (module doc). Nothing is created before a chunk comes."""
        self._start_sender()
        return True

    def _start_sender(self) -> None:
        if self.sender is None:
            self.sender = threading.Thread(target=self._send, daemon=True,
                                           name="etlcore-hdfs-upload")
            self.sender.start()

    def close_deferred(self, in_process: bool = False) -> Closing | None:
        """``close``, or with ``in_process`` and a stream under way: end the body and
        return without its answer, as a :class:`Closing` to finish (module doc)."""
        if in_process and self.sender is not None and not self.closed:
            self._end_body()
            return Closing(self)
        self.close()
        return None

    def _end_body(self) -> None:
        if self.sender is not None and not self.ended:
            self.ended = True
            self.pending.put(_END)

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self.chunks.append(chunk)
            self._start_sender()
            self.pending.put(chunk)
        return len(chunk)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sender is not None:
            self._end_body()
            self.sender.join()
            if self.failure is None:
                self.chunks = []
                return
        # nothing streamed (an empty file), or the stream failed: the retried write, after
        # a delete of what the stream left (a file under construction keeps its lease)
        data = b"".join(self.chunks)
        self.chunks = []
        if self.failure is not None:
            self.fs.remove(self.path)
        self.fs.write(self.path, data)

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        wrote, self.chunks = bool(self.chunks), []
        if self.sender is not None:
            # end the body rather than cut it: a cut request leaves the DataNode to create
            # and close the file after its reset, which may be after our delete; a finished
            # one has created and closed it when the answer comes, so the delete is last
            ended, self.aborting = self.ended, True
            self._end_body()
            if not (wrote or ended):  # expected, nothing came: the sender ends on its own
                return  # without a PUT (not waited for: the job's last, empty batch would)
            self.sender.join()
            if self.put or self.failure is not None:
                with contextlib.suppress(Exception):  # best effort: a temp name, never published
                    self.fs.remove(self.path)

    def _body(self) -> Iterator[bytes | memoryview]:
        """The chunks as they come, in pieces of at most :data:`PIECE` bytes."""
        item = self.first
        while item is not _END:
            if len(item) <= PIECE:
                yield item
            else:
                view = memoryview(item)
                for start in range(0, len(view), PIECE):
                    yield view[start:start + PIECE]
            item = self.pending.get()

    def _send(self) -> None:
        """CREATE: the NameNode's redirect at once, the DataNode's PUT from the first
        chunk (an ended body first: an empty file, or nothing when aborted)."""
        netloc, hdfs_path = split_url(self.path)
        try:
            client = self.fs.client(netloc)
            location = client._create(hdfs_path, overwrite=True).headers["location"]
            self.first = self.pending.get()
            if self.first is _END and self.aborting:
                return
            self.put = True
            answer = client._request(method="PUT", url=location,
                                     data=self._body() if self.first is not _END else b"")
            if not answer:
                raise _hdfs_client()._to_error(answer)
        except BaseException as err:  # noqa: BLE001 - close() writes the kept chunks again
            self.failure = err
            while True:  # drain, so close() and abort() never wait on a dead sender
                try:
                    if self.pending.get_nowait() is _END:
                        break
                except queue.Empty:
                    break
