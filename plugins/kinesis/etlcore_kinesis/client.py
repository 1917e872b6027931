"""A boto3 Kinesis client with etlcore's retry policy and error messages.

Used on both sides: the planner's client on the driver, each reader's own on its worker.

botocore's own retries are switched off so that one policy applies: throttling
(ProvisionedThroughputExceededException, LimitExceededException) and network
failures are retried with exponential backoff and full jitter, each retry logged
as a warning; whatever still fails becomes a :class:`KinesisError` naming the
stream, so users see one line rather than a botocore traceback.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from etlcore.errors import EtlcoreError
from etlcore.plugin.imports import require_module
from etlcore_kinesis.config import KinesisSourceConfig

# Only the connector module imports this one, so registering the plugin and checking
# configs never load boto3; a missing one is an error with the pip command.
require_module("boto3", feature="the kinesis source")
import boto3  # noqa: E402
from botocore.config import Config as BotoConfig  # noqa: E402
from botocore.exceptions import (  # noqa: E402
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
)
from botocore.exceptions import (  # noqa: E402
    ConnectionError as BotoConnectionError,
)

log = logging.getLogger("etlcore_kinesis")

THROTTLED = frozenset({
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "KMSThrottlingException",
})
_BASE_DELAY = 0.1
_MAX_DELAY = 5.0


class KinesisError(EtlcoreError):
    """A Kinesis call that failed for good: missing stream, unreachable endpoint, denied."""


class IteratorExpired(Exception):  # noqa: N818 - a signal to the caller, not a failure
    """A shard iterator older than five minutes: get a new one from the position."""


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: spreads retries of concurrent readers apart."""
    return random.uniform(_BASE_DELAY / 2, min(_MAX_DELAY, _BASE_DELAY * 2 ** attempt))


class KinesisClient:
    """Calls Kinesis for one stream; every call goes through :meth:`call`."""

    def __init__(self, config: KinesisSourceConfig, stop: threading.Event | None = None):
        self.stream = config.stream_name
        self.region = config.region
        self.endpoint = config.endpoint_url or f"AWS {config.region}"
        self.max_retries = config.max_retries
        self.stop = stop or threading.Event()
        session = boto3.session.Session(
            aws_access_key_id=config.aws_access_key_id,
            aws_secret_access_key=config.aws_secret_access_key,
            region_name=config.region,
        )
        boto_config = BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=5,
                                 read_timeout=30, max_pool_connections=16)
        try:
            self._client = session.client("kinesis", endpoint_url=config.endpoint_url,
                                          config=boto_config)
        except (BotoCoreError, ValueError) as err:
            raise KinesisError(f"cannot set up a Kinesis client for stream '{self.stream}' "
                               f"({self.endpoint}): {err}") from None

    def call(self, operation: str, *, retries: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """``client.<operation>(**kwargs)`` with retries; raises KinesisError or IteratorExpired."""
        method = getattr(self._client, operation)
        limit = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return method(**kwargs)
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                message = err.response.get("Error", {}).get("Message", str(err))
                if code == "ExpiredIteratorException":
                    raise IteratorExpired(message) from None
                if code == "ResourceNotFoundException":
                    raise KinesisError(
                        f"Kinesis stream '{self.stream}' not found ({self.endpoint}): {message} "
                        "Check the source's stream_name and region, or create the stream."
                    ) from None
                if code not in THROTTLED or attempt >= limit:
                    what = "throttled" if code in THROTTLED else "failed"
                    raise KinesisError(
                        f"Kinesis {operation} on stream '{self.stream}' {what} ({code}): "
                        f"{message}" + (f" (after {attempt} retries)" if attempt else "")
                    ) from None
                reason = f"throttled ({code})"
            except (NoCredentialsError, NoRegionError) as err:
                raise KinesisError(
                    f"no AWS credentials or region for Kinesis stream '{self.stream}': {err}. "
                    "Set aws_access_key_id/aws_secret_access_key in the source config or use the "
                    "usual AWS environment variables, profile or instance role."
                ) from None
            except BotoConnectionError as err:
                if attempt >= limit:
                    raise KinesisError(
                        f"cannot reach Kinesis at {self.endpoint} for stream '{self.stream}' "
                        f"({err}); gave up after {attempt} retries"
                    ) from None
                reason = f"unreachable ({type(err).__name__})"
            except BotoCoreError as err:
                raise KinesisError(
                    f"Kinesis {operation} on stream '{self.stream}' failed: {err}"
                ) from None
            delay = backoff(attempt)
            attempt += 1
            log.warning("Kinesis %s on stream '%s' %s; retry %d/%d in %.2fs", operation,
                        self.stream, reason, attempt, limit, delay)
            if self.stop.wait(delay):
                raise KinesisError(f"stopped while retrying Kinesis {operation} on stream "
                                   f"'{self.stream}'")

    def iterator(self, shard: str, kind: str, seq: str | None = None) -> str:
        """A shard iterator of ``kind`` (at or after ``seq`` for the sequence-number kinds)."""
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard,
                                  "ShardIteratorType": kind}
        if seq is not None:
            kwargs["StartingSequenceNumber"] = seq
        return str(self.call("get_shard_iterator", **kwargs)["ShardIterator"])

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
