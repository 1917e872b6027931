"""Config schemas of the ``s3`` source and sink, checked on the driver before a job runs.

No client library is imported here, so ``etlcore plugins`` shows the settings
without boto3 installed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from etlcore.config import option, secret
from etlcore.connectors.directory import DirectorySourceConfig
from etlcore.connectors.files import FilesSinkConfig
from etlcore.errors import ConfigError

MIN_PART = 5 * 1024 * 1024  # S3's smallest multipart part (but the last)
SCHEMES = ("s3://", "s3a://")


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    for scheme in SCHEMES:
        if url.lower().startswith(scheme):
            bucket, _, key = url[len(scheme):].partition("/")
            return bucket, key
    raise ValueError(f"not an s3:// URL: {url!r}")


@dataclass(kw_only=True)
class S3Options:
    """How to reach S3; every field has a default (the standard AWS chain)."""

    endpoint_url: str | None = option(
        None, help="a non-AWS endpoint such as http://127.0.0.1:9000 (MinIO); default: AWS, "
        "or AWS_ENDPOINT_URL", identity=False)
    region: str | None = option(None, help="region; default: AWS_REGION / the profile's, "
                                "else us-east-1", identity=False)
    path_style: bool = option(False, help="path-style addressing (http://host/bucket/key), "
                              "what MinIO and most non-AWS servers want", identity=False)
    profile: str | None = option(None, help="a profile of ~/.aws/config", identity=False)
    access_key_id: str | None = secret(None, help="access key; default: the AWS chain "
                                       "(environment, profile, instance role)")
    secret_access_key: str | None = secret(None, help="secret key, with access_key_id")
    session_token: str | None = secret(None, help="session token of temporary credentials")
    retries: int = option(30, help="attempts of a call while S3 is unreachable or failing "
                          "(5xx, throttled); exponential backoff with jitter, at most "
                          "retry_cap seconds apart", identity=False)
    retry_cap: float = option(2.0, help="longest wait between two attempts, in seconds",
                              identity=False)
    timeout: float = option(10.0, help="connect and read timeout of one request, in seconds",
                            identity=False)
    multipart_threshold: int = option(MIN_PART, help="objects at least this large are "
                                      "written in parts; a streamed object starts its "
                                      "multipart upload once this many bytes have gathered",
                                      identity=False)
    multipart_chunksize: int = option(8 * 1024 * 1024, help="bytes per part / ranged GET",
                                      identity=False)
    max_concurrency: int = option(8, help="parallel parts of one object", identity=False)
    read_ahead: int = option(4, help="source: objects (or byte ranges) fetched (and split "
                             "into lines) at once while one is parsed; each costs its bytes "
                             "(and lines) in memory", identity=False)

    def check_s3(self, prefix: str, path: str) -> None:
        """Errors naming the key; ``prefix`` is ``where.`` or empty."""
        try:
            bucket, _ = split_url(path)
        except ValueError:
            bucket = ""
            if not path.lower().startswith(SCHEMES):
                raise ConfigError(f"{prefix}path", "an s3://bucket/prefix URL", path) from None
        if not bucket:
            raise ConfigError(f"{prefix}path", "an s3://bucket/prefix URL with a bucket", path)
        if self.endpoint_url is not None and not self.endpoint_url.startswith(
                ("http://", "https://")):
            raise ConfigError(f"{prefix}endpoint_url", "an http:// or https:// URL",
                              self.endpoint_url)
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ConfigError(f"{prefix}secret_access_key", "access_key_id and "
                              "secret_access_key given together, or neither", "<redacted>")
        for key, low in (("retries", 1), ("max_concurrency", 1), ("read_ahead", 1)):
            if getattr(self, key) < low:
                raise ConfigError(f"{prefix}{key}", f"an integer >= {low}", getattr(self, key))
        for key in ("timeout", "retry_cap"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}", "a positive number of seconds",
                                  getattr(self, key))
        for key in ("multipart_threshold", "multipart_chunksize"):
            if getattr(self, key) < MIN_PART:
                raise ConfigError(f"{prefix}{key}", f"at least {MIN_PART} bytes (S3's "
                                  "smallest part)", getattr(self, key))


def options_of(config: Any) -> S3Options:
    """The connection settings of a source or sink config."""
    names = [f.name for f in dataclasses.fields(S3Options)]
    return S3Options(**{n: getattr(config, n) for n in names})


@dataclass
class S3SourceConfig(DirectorySourceConfig, S3Options):
    """The ``directory`` source's settings (``path`` is ``s3://bucket/prefix``) and S3's."""

    def validate(self, where: str) -> None:
        super().validate(where)
        self.check_s3(f"{where}." if where else "", self.path)


@dataclass
class S3SinkConfig(FilesSinkConfig, S3Options):
    """The ``files`` sink's settings (``path`` is ``s3://bucket/prefix``) and S3's."""

    def validate(self, where: str) -> None:
        super().validate(where)
        self.check_s3(f"{where}." if where else "", self.path)
