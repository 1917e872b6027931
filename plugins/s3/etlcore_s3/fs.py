"""S3 as an etlcore :class:`~etlcore.plugin.fs.FileSystem` (boto3, any S3 API server).

Paths are ``s3://bucket/key`` (or ``s3a://``). A "directory" is a key prefix
ending in ``/``: listings use ListObjectsV2 with ``Delimiter="/"`` (not
recursive, like a local directory) and ``StartAfter``, page by page. S3 has no
rename, so ``atomic_rename`` is False: the files sink writes final keys and
publishes batches with manifest objects instead.

Every call is retried with exponential backoff and jitter
(:func:`etlcore.plugin.retry.retry`) while the server is unreachable, times out
or answers 5xx / throttling, up to ``retries`` attempts: an outage of a
minute stalls the job, with a warning per retry and ``STATS["retries"]``
counting them, instead of failing it. Calls are idempotent (puts of the same
bytes under the same key, gets, lists, deletes), so a retry is always safe.

Sides: the object is picklable (its settings travel, the boto3 client is made
lazily in each process) and the client is shared by the threads of a process.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, ClassVar, TypeVar

from etlcore.plugin.fs import FileInfo, FileSystem, PathLike, Upload, open_whole
from etlcore.plugin.imports import require_module
from etlcore.plugin.redact import redact, redacted_errors
from etlcore.plugin.retry import retry
from etlcore_s3.config import S3Options, split_url
from etlcore_s3.upload import InFlight, PartUpload, Pending

log = logging.getLogger("etlcore.s3")
T = TypeVar("T")

#: per process: calls made, retries after transient errors (outages show here)
STATS: Counter[str] = Counter()
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                    "InternalError", "ServiceUnavailable", "XMinioServerNotInitialized",
                    "XMinioStorageFull", "RequestTimeTooSkewed"}


def _boto() -> tuple[Any, Any, Any]:
    boto3 = require_module("boto3", "etlcore-s3", feature="s3:// paths")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    return boto3, Config, ClientError


def transient(err: BaseException) -> bool:
    """An error a later attempt may not get: unreachable, timed out, 5xx, throttled."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    if isinstance(err, (ConnectionError, HTTPClientError, ReadTimeoutError,
                        ResponseStreamingError, ConnectionResetError, TimeoutError)):
        return True
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = err.response.get("Error", {}).get("Code", "")
        return bool(status >= 500 or code in _TRANSIENT_CODES)
    return False


_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _shared_client(fs: S3FileSystem) -> Any:
    """One boto3 client per process and settings: making one costs ~60 ms (endpoint
    resolution, credential chain), which a job paid again for every file-system object.
    boto3 clients are thread-safe, so every file system with these settings shares it."""
    _boto()  # boto3 must still be importable: a missing one is named, cached client or not
    key = tuple(sorted((k, repr(v)) for k, v in vars(fs.options).items()))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = fs._make_client()
        return client


def request_checksums(endpoint_url: str | None) -> str:
    """botocore's ``request_checksum_calculation`` for an endpoint.

    Over plain HTTP, SigV4 signs every request body's SHA-256, which the server
    checks (botocore always signs payloads without TLS): a CRC32 of the same
    bytes, botocore's default since 1.36, is a second pass over each part, on the
    client and again on the server, that catches nothing the SHA-256 does not.
    Over HTTPS botocore leaves the body unsigned, so the CRC32 stays.
    """
    plain = (endpoint_url or "").lower().startswith("http://")
    return "when_required" if plain else "when_supported"


def _code(err: BaseException) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3FileSystem(FileSystem):
    """S3 through boto3; the settings are an :class:`~etlcore_s3.config.S3Options`."""

    scheme: ClassVar[str] = "s3"
    atomic_rename: ClassVar[bool] = False

    def __init__(self, options: S3Options):
        self.options = options
        self.read_ahead = options.read_ahead
        self._client: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}  # never a client or a lock

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    def __repr__(self) -> str:
        where = self.options.endpoint_url or "AWS"
        return f"S3FileSystem(endpoint={where!r}, path_style={self.options.path_style})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3FileSystem) and other.options == self.options

    def __hash__(self) -> int:
        return hash((type(self), self.options.endpoint_url))

    # -- the client --------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _shared_client(self)
        return self._client

    def _make_client(self) -> Any:
        boto3, Config, _ = _boto()  # noqa: N806 - a class
        o = self.options
        config = Config(
            region_name=o.region or None,
            connect_timeout=o.timeout, read_timeout=o.timeout,
            retries={"total_max_attempts": 1},  # ours retry, with a warning per attempt
            max_pool_connections=max(10, o.max_concurrency * (o.read_ahead + 1)),
            s3={"addressing_style": "path" if o.path_style else "auto"},
        )
        with redacted_errors(o, "s3 client"):
            session = boto3.session.Session(
                aws_access_key_id=o.access_key_id, aws_secret_access_key=o.secret_access_key,
                aws_session_token=o.session_token, profile_name=o.profile)
            if session.region_name is None and o.region is None:
                config = config.merge(Config(region_name="us-east-1"))
            client = session.client("s3", endpoint_url=o.endpoint_url, config=config)
            # the endpoint may come from AWS_ENDPOINT_URL or a profile: ask the client
            checksums = request_checksums(client.meta.endpoint_url)
            if checksums != client.meta.config.request_checksum_calculation:
                client = session.client("s3", endpoint_url=o.endpoint_url, config=config.merge(
                    Config(request_checksum_calculation=checksums)))
            return client

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` retried while S3 is unreachable or failing; ``what`` names it in logs."""
        def attempt() -> T:
            STATS["calls"] += 1
            try:
                return fn()
            except Exception as err:
                if transient(err):
                    STATS["retries"] += 1
                raise

        o = self.options
        with redacted_errors(o, f"S3 {what}"):
            return retry(attempt, attempts=o.retries, base=0.2, cap=o.retry_cap,
                         retry_on=transient, what=redact(f"S3 {what}", o))

    def transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        o = self.options
        return TransferConfig(multipart_threshold=o.multipart_threshold,
                              multipart_chunksize=o.multipart_chunksize,
                              max_concurrency=o.max_concurrency, use_threads=True)

    # -- FileSystem ----------------------------------------------------------------
    def open(self, path: PathLike, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        return open_whole(self, path, mode, **kwargs)

    def write(self, path: PathLike, data: bytes) -> None:
        upload = self.upload(path)
        upload.write(data)
        upload.close()

    def upload(self, path: PathLike) -> Upload:
        """Parts go up while the caller produces the rest (see :class:`PartUpload`)."""
        return PartUpload(self, str(path))

    def finish(self, pending: list[Any]) -> None:
        """CompleteMultipartUpload for each (in parallel if several), an
        :class:`InFlight` once its parts are stored.

        Completing is idempotent here: an upload the server no longer knows
        (NoSuchUpload: a retry after a lost answer) is done if its object exists.
        """
        self._each(pending, self._complete)

    def discard(self, pending: list[Any]) -> None:
        """AbortMultipartUpload for each; one already gone is not an error."""
        self._each(pending, lambda p: p.discard() if isinstance(p, InFlight)
                   else self._abort_upload(p.bucket, p.key, p.upload_id))

    def discard_unfinished(self, paths: list[str], keep: list[Any]) -> None:
        """Abort the pending multipart uploads to ``paths`` not in ``keep``: one
        ListMultipartUploads per key (the key as the prefix, as MinIO wants)."""
        kept = {p.upload_id for p in keep if isinstance(p, (Pending, InFlight))}
        self._each(paths, lambda path: self._abort_others(str(path), kept))

    def _each(self, items: list[Any], fn: Callable[[Any], object]) -> None:
        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(min(len(items), self.options.max_concurrency)) as pool:
            for _ in pool.map(fn, items):
                pass

    def _complete(self, pending: Pending | InFlight) -> None:
        if isinstance(pending, InFlight):
            pending = pending.resolve()
        path = f"s3://{pending.bucket}/{pending.key}"
        try:
            self.call(f"CompleteMultipartUpload {path}",
                      lambda: self.client.complete_multipart_upload(**pending.request()))
        except Exception as err:
            if _code(err) == "NoSuchUpload" and self.exists(path):
                return
            raise

    def _abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self.call(f"AbortMultipartUpload s3://{bucket}/{key}",
                      lambda: self.client.abort_multipart_upload(
                          Bucket=bucket, Key=key, UploadId=upload_id))
        except Exception as err:
            if _code(err) != "NoSuchUpload":
                raise

    def _abort_others(self, path: str, kept: set[str]) -> None:
        bucket, key = split_url(path)
        answer = self.call(f"ListMultipartUploads {path}",
                           lambda: self.client.list_multipart_uploads(Bucket=bucket, Prefix=key))
        for upload in answer.get("Uploads", []):
            if upload["Key"] == key and upload["UploadId"] not in kept:
                self._abort_upload(bucket, key, upload["UploadId"])

    def rename(self, src: PathLike, dst: PathLike) -> None:
        """Copy then delete: not atomic (hence ``atomic_rename = False``)."""
        sb, sk = split_url(str(src))
        db, dk = split_url(str(dst))
        self.call(f"copy {src}", lambda: self.client.copy(
            {"Bucket": sb, "Key": sk}, db, dk, Config=self.transfer_config()))
        self.remove(src)

    def exists(self, path: PathLike) -> bool:
        bucket, key = split_url(str(path))
        try:
            self.call(f"HeadObject {path}",
                      lambda: self.client.head_object(Bucket=bucket, Key=key))
        except Exception as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def listdir(self, path: PathLike) -> list[str]:
        return sorted(info.name for info in self.list(path))

    def list(self, path: PathLike, start_after: str | None = None) -> Iterator[FileInfo]:
        """Objects directly under ``path/``, by ListObjectsV2 pages (``StartAfter``)."""
        bucket, prefix = split_url(str(path))
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if start_after is not None:
            kwargs["StartAfter"] = prefix + start_after
        while True:
            page = self.call(f"ListObjectsV2 {path}",
                             lambda: self.client.list_objects_v2(**kwargs))
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                if name:  # the "directory" marker itself
                    mtime = int(obj["LastModified"].timestamp() * 1_000_000) * 1000
                    yield FileInfo(name, int(obj["Size"]), mtime)
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def mkdirs(self, path: PathLike) -> None:
        """Nothing to do: prefixes exist when objects under them do."""

    def remove(self, path: PathLike) -> None:
        bucket, key = split_url(str(path))
        self.call(f"DeleteObject {path}",
                  lambda: self.client.delete_object(Bucket=bucket, Key=key))

    def read(self, path: PathLike, start: int = 0, length: int | None = None) -> bytes:
        """The object, or a byte range; large objects by parallel ranged GETs."""
        text = str(path)
        if length is not None:
            if length <= 0:
                return b""
            return self._get(text, f"bytes={start}-{start + length - 1}")[0]
        chunk = self.options.multipart_chunksize
        first, total = self._get(text, f"bytes={start}-{start + chunk - 1}")
        if total is None or start + len(first) >= total:
            return first
        ranges = [(pos, min(pos + chunk, total) - 1)
                  for pos in range(start + len(first), total, chunk)]
        with ThreadPoolExecutor(self.options.max_concurrency) as pool:
            rest = pool.map(lambda r: self._get(text, f"bytes={r[0]}-{r[1]}")[0], ranges)
            return b"".join([first, *rest])

    def _get(self, path: str, byte_range: str) -> tuple[bytes, int | None]:
        """Bytes of one ranged GET and the object's size; FileNotFoundError if missing."""
        bucket, key = split_url(path)

        def get() -> tuple[bytes, int | None]:
            try:
                response = self.client.get_object(Bucket=bucket, Key=key, Range=byte_range)
            except Exception as err:
                if _code(err) == "InvalidRange":  # an empty object, or a range past its end
                    return b"", 0
                raise
            total = response.get("ContentRange", "").rpartition("/")[2]
            body = response["Body"].read()  # inside the retry: a cut stream is read again
            return body, int(total) if total.isdigit() else None

        try:
            return self.call(f"GetObject {path}", get)
        except Exception as err:
            if _code(err) in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(2, f"no such object: {path}") from None
            if _code(err) == "NoSuchBucket":
                raise FileNotFoundError(2, f"no such bucket: {path}") from None
            raise

    def check_bucket(self, path: str) -> None:
        """Fail early, naming the bucket, when it does not exist or is not ours."""
        bucket, _ = split_url(path)
        try:
            self.call(f"HeadBucket {bucket}", lambda: self.client.head_bucket(Bucket=bucket))
        except Exception as err:
            if _code(err) in ("404", "NoSuchBucket", "NotFound"):
                raise FileNotFoundError(2, f"S3 bucket {bucket!r} does not exist at "
                                        f"{self.options.endpoint_url or 'AWS'}") from None
            raise

    # -- for a checkpoint on S3 (etlcore.ckptstore): conditional writes ------------------
    def create_exclusive(self, path: PathLike, data: bytes) -> bool:
        """PutObject with ``If-None-Match: *``: False when the key exists (412).

        A retry after a lost answer also gets 412; the caller tells its own object
        from another's by its content (a lease names its owner).
        """
        bucket, key = split_url(str(path))
        try:
            self.call(f"PutObject (if none) {path}", lambda: self.client.put_object(
                Bucket=bucket, Key=key, Body=data, IfNoneMatch="*"))
        except Exception as err:
            if _code(err) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def check_location(self, path: PathLike) -> str | None:
        """An ``s3://`` URL must name a bucket."""
        try:
            bucket, _ = split_url(str(path))
        except ValueError:
            return "an s3://bucket/prefix URL"
        return None if bucket else "an s3://bucket/prefix URL with a bucket"

    def remove_many(self, paths: list[PathLike]) -> None:
        """DeleteObjects, up to 1000 keys a request (missing keys are not errors)."""
        by_bucket: dict[str, list[str]] = {}
        for path in paths:
            bucket, key = split_url(str(path))
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            for i in range(0, len(keys), 1000):
                chunk = [{"Key": k} for k in keys[i:i + 1000]]
                answer = self.call(f"DeleteObjects s3://{bucket} ({len(chunk)} keys)",
                                   lambda b=bucket, c=chunk: self.client.delete_objects(  # type: ignore[misc]
                                       Bucket=b, Delete={"Objects": c, "Quiet": True}))
                failed = answer.get("Errors") or []
                if failed:
                    raise OSError(f"S3 DeleteObjects in {bucket}: {len(failed)} keys not "
                                  f"deleted, e.g. {failed[0]}")
