"""A file sent to HDFS while its writer produces the rest.

WebHDFS CREATE takes a chunked request body, so the first chunk goes to the
DataNode while the task still parses and encodes the next: a thread sends the
chunks from a queue as they come. One streamed attempt cannot be retried (its
body is gone), so the chunks are also kept, and if the stream fails, ``close``
writes them again with the file system's retried ``write``: a NameNode or
DataNode outage mid-file costs a second send, never the file. The written path
is a temp name the files sink renames at commit, so a half-sent attempt is
never seen.
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

class StreamUpload(Upload):
    """``write`` bytes, then ``close`` (stored) or ``abort`` (nothing visible kept)."""

    def __init__(self, fs: HdfsFileSystem, path: str):
        self.fs, self.path = fs, path
        self.chunks: list[bytes] = []
        self.pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.sender: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self.chunks.append(chunk)
            if self.sender is None:
                self.sender = threading.Thread(target=self._send, daemon=True,
                                               name="etlcore-hdfs-upload")
                self.sender.start()
            self.pending.put(chunk)
        return len(chunk)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sender is not None:
            self.pending.put(_END)
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
        self.chunks = []
        if self.sender is not None:
            # end the body rather than cut it: a cut request leaves the DataNode to create
            # and close the file after its reset, which may be after our delete; a finished
            # one has created and closed it when the answer comes, so the delete is last
            self.pending.put(_END)
            self.sender.join()
            with contextlib.suppress(Exception):  # best effort: a temp name, never published
                self.fs.remove(self.path)

    def _body(self) -> Iterator[bytes]:
        while True:
            item = self.pending.get()
            if item is _END:
                return
            yield item

    def _send(self) -> None:
        netloc, hdfs_path = split_url(self.path)
        try:
            self.fs.client(netloc).write(hdfs_path, data=self._body(), overwrite=True)
        except BaseException as err:  # noqa: BLE001 - close() writes the kept chunks again
            self.failure = err
            while True:  # drain, so close() and abort() never wait on a dead sender
                try:
                    if self.pending.get_nowait() is _END:
                        break
                except queue.Empty:
                    break
