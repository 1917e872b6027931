"""An object written in parts while its writer produces the rest.

A task that stores a partition chunk by chunk hands each chunk to a
:class:`PartUpload`: once S3's smallest part (5 MiB) has gathered it goes up
as one part of a multipart upload, on a thread of its own, while the task
parses and encodes the next records. One large ``write`` goes up in parallel
parts of ``multipart_chunksize``. A writer with less than a part in all
stores it with one PutObject at ``close``. ``close`` completes the upload, so
the object appears whole or not at all; ``abort`` (or a failed part) aborts
it, so no part is left behind on the server.

``close_deferred`` waits for the parts but leaves the upload pending: it returns
a :class:`Pending` (bucket, key, upload id, the parts' numbers and ETags: small,
picklable) that :meth:`S3FileSystem.finish` completes later, from any process.
The files sink does so at its commit, which runs behind on the commit thread,
so CompleteMultipartUpload (4-45 ms) leaves the task's path; until then the
object does not exist. A pending upload nobody finishes is dropped by
``S3FileSystem.discard`` (a sink's abort), ``discard_unfinished`` (a replay,
for a killed attempt's) or the bucket's lifecycle rule.

``close_deferred(in_process=True)`` does not wait for the parts either: it
hands the last part to the part threads and returns an :class:`InFlight`,
which ``finish`` waits for before it completes. The writer's task then ends
once its bytes are handed off, and the next batch's task reads and sends
while this batch's last parts go up (the 15-20 ms a batch with no part in
flight, on the local runner, where the token stays in the driver's process).

At most ``max_concurrency`` parts are in flight: the writer waits for the
oldest beyond that, which bounds the memory a partition holds.

``expect(size)`` before the first ``write`` creates the multipart upload at once
when ``size`` would go in parts, so the creation's round trip overlaps the
writer's first read instead of holding up its first part. Fewer bytes than a
part after all go up as the upload's one (last) part; none at all, as an empty
object.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etlcore.plugin.fs import Upload
from etlcore_s3.config import MIN_PART, split_url

if TYPE_CHECKING:
    from etlcore_s3.fs import S3FileSystem


@dataclass(frozen=True)
class Pending:
    """A multipart upload whose parts are all stored, to be completed (or aborted)."""

    bucket: str
    key: str
    upload_id: str
    parts: tuple[tuple[int, str], ...]  # (PartNumber, ETag), in order

    def request(self) -> dict[str, Any]:
        """CompleteMultipartUpload's arguments."""
        return {"Bucket": self.bucket, "Key": self.key, "UploadId": self.upload_id,
                "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": e}
                                              for n, e in self.parts]}}


class InFlight:
    """A multipart upload handed off with parts still going up
    (``close_deferred(in_process=True)``): :meth:`resolve` waits for them.

    It holds the upload's threads, so it stays in its process: pickled (a message
    that crosses processes after all) it waits for its parts and travels as the
    :class:`Pending`.
    """

    def __init__(self, upload: PartUpload):
        self.upload = upload

    @property
    def upload_id(self) -> str:
        upload_id = self.upload.upload_id
        assert upload_id is not None
        return upload_id

    def resolve(self) -> Pending:
        """The :class:`Pending` once every part is stored (a failed part aborts the
        upload and raises)."""
        return self.upload.parts_stored()

    def discard(self) -> None:
        """Stop the parts not yet sent and abort the upload."""
        self.upload.abandon()

    def __reduce__(self) -> tuple[Any, ...]:
        p = self.resolve()
        return (Pending, (p.bucket, p.key, p.upload_id, p.parts))


class PartUpload(Upload):
    """``write`` bytes, then ``close`` (stored) or ``abort`` (nothing stored)."""

    def __init__(self, fs: S3FileSystem, path: str):
        self.fs, self.path = fs, path
        self.bucket, self.key = split_url(path)
        self.part_size = fs.options.multipart_chunksize
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.created: Future[str] | None = None  # CreateMultipartUpload, on the pool
        self.pool: ThreadPoolExecutor | None = None
        self.sending: deque[Future[dict[str, Any]]] = deque()
        self.done: list[dict[str, Any]] = []
        self.closed = False
        self.stored: Pending | None = None  # once parts_stored has seen every part

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self.buffer.append(chunk)
            self.buffered += len(chunk)
            if self.buffered >= self._ready():
                self._send_full_parts()
        return len(chunk)

    def expect(self, size: int) -> bool:
        """Create the multipart upload now if ``size`` bytes would go in parts."""
        if self.created is not None or self.closed or size < self._ready():
            return False
        self._start_pool()
        return True

    def close(self) -> None:
        pending = self.close_deferred()
        if pending is not None:
            try:
                self.fs.finish([pending])
            except BaseException as err:
                with contextlib.suppress(Exception):  # the original error matters more
                    self.fs.discard([pending])
                if isinstance(err, Exception):
                    err.add_note(f"etlcore: the upload of {self.path} failed and was aborted")
                raise

    def close_deferred(self, in_process: bool = False) -> Pending | InFlight | None:
        """Store the parts, not the object: the :class:`Pending` to complete it, or None
        when it is stored already (less than a part: one PutObject). ``in_process``:
        the token stays in this process, so return at once with the parts still going
        up, as an :class:`InFlight` (module doc)."""
        if self.closed:
            return None
        self.closed = True
        try:
            if self.created is not None and not (self.buffered or self.sending or self.done):
                self._abandon()  # created on expect, but nothing came: an empty object
                self.created = None
            if self.created is None:  # less than a part in all: one request
                body = b"".join(self.buffer)
                self.buffer = []
                self.fs.call(f"PutObject {self.path}", lambda: self.fs.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=body))
                self._stop_pool()
                return None
            if self.buffered:  # the last part may be smaller than the others
                self._submit(b"".join(self.buffer))
                self.buffer, self.buffered = [], 0
        except BaseException as err:
            self._abandon()
            self._stop_pool()
            if isinstance(err, Exception):
                err.add_note(f"etlcore: the upload of {self.path} failed and was aborted")
            raise
        if in_process:
            assert self.pool is not None
            self.pool.shutdown(wait=False)  # its threads send what is in line, then end
            self.pool = None
            return InFlight(self)
        try:
            return self.parts_stored()
        finally:
            self._stop_pool()

    def parts_stored(self) -> Pending:
        """Wait for the parts still going up: the :class:`Pending` to complete. A failed
        part aborts the upload and raises."""
        if self.stored is None:
            try:
                while self.sending:
                    self.done.append(self.sending[0].result())
                    self.sending.popleft()
            except BaseException as err:
                self._abandon()
                if isinstance(err, Exception):
                    err.add_note(f"etlcore: the upload of {self.path} failed and was aborted")
                raise
            parts = sorted((p["PartNumber"], p["ETag"]) for p in self.done)
            assert self.upload_id is not None
            self.stored = Pending(self.bucket, self.key, self.upload_id, tuple(parts))
        return self.stored

    def abandon(self) -> None:
        """After ``close_deferred``: drop the parts not yet sent and abort the upload."""
        self._abandon()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self._abandon()
            self._stop_pool()

    @property
    def upload_id(self) -> str | None:
        """The multipart upload's id (waits for its creation); None before the first part."""
        return None if self.created is None else self.created.result()

    # -- parts -------------------------------------------------------------------------
    def _ready(self) -> int:
        """Bytes that make a part worth sending: ``multipart_threshold`` for the first
        (below it, one PutObject at ``close``), then S3's smallest part, so each chunk of
        a streamed partition goes up at once and only the last is left for ``close``;
        ``multipart_chunksize`` beyond 5,000 parts, far from S3's limit of 10,000."""
        sent = len(self.done) + len(self.sending)
        if not sent:
            return max(MIN_PART, self.fs.options.multipart_threshold)
        return MIN_PART if sent < 5000 else self.part_size

    def _send_full_parts(self) -> None:
        """Send what has gathered: as one part (no slicing copy) unless it holds two or
        more parts' worth, as one large ``write`` does, which goes up in parallel parts."""
        data = self.buffer[0] if len(self.buffer) == 1 else b"".join(self.buffer)
        size = self.part_size
        if len(data) < 2 * size:
            self.buffer, self.buffered = [], 0
            self._submit(data)
            return
        whole = len(data) - len(data) % size
        for pos in range(0, whole, size):
            self._submit(data[pos:pos + size])
        rest = data[whole:]
        self.buffer, self.buffered = ([rest], len(rest)) if rest else ([], 0)

    def _start_pool(self) -> None:
        """The part threads, with CreateMultipartUpload first in line (never starved):
        the writer goes on meanwhile."""
        self.pool = ThreadPoolExecutor(self.fs.options.max_concurrency,
                                       thread_name_prefix="etlcore-s3-part")
        self.created = self.pool.submit(self._create)

    def _submit(self, body: bytes) -> None:
        if self.pool is None:
            self._start_pool()
        while len(self.sending) >= self.fs.options.max_concurrency:
            self.done.append(self.sending.popleft().result())  # a failed part raises here
        number = len(self.done) + len(self.sending) + 1
        assert self.pool is not None
        self.sending.append(self.pool.submit(self._part, number, body))

    def _create(self) -> str:
        answer = self.fs.call(f"CreateMultipartUpload {self.path}",
                              lambda: self.fs.client.create_multipart_upload(
                                  Bucket=self.bucket, Key=self.key))
        return str(answer["UploadId"])

    def _part(self, number: int, body: bytes) -> dict[str, Any]:
        upload_id = self.upload_id  # a failed creation fails the part with its error
        answer = self.fs.call(f"UploadPart {number} of {self.path}",
                              lambda: self.fs.client.upload_part(
                                  Bucket=self.bucket, Key=self.key, UploadId=upload_id,
                                  PartNumber=number, Body=body))
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _abandon(self) -> None:
        """Abort the multipart upload (its parts are dropped by the server)."""
        for future in self.sending:
            future.cancel()
        self.sending.clear()
        self.buffer, self.buffered = [], 0
        if self.created is not None:
            with contextlib.suppress(Exception):  # the original error matters more
                self.fs.client.abort_multipart_upload(  # (a failed creation: nothing to abort)
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)

    def _stop_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
