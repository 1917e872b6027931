"""Config schema of the ``kinesis`` source, checked before a job runs.

Checked on the driver; travels to workers inside each reader (credentials included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from etlcore.config import option, secret
from etlcore.errors import ConfigError

Format = Literal["bytes", "str", "json"]


@dataclass
class KinesisSourceConfig:
    """Settings of the ``kinesis`` source (one partition per shard)."""

    stream_name: str = option(help="the Kinesis data stream to read")
    region: str = option("us-east-1", help="AWS region of the stream")
    endpoint_url: str | None = option(
        None, help="a non-AWS endpoint such as http://127.0.0.1:4567 (kinesalite, LocalStack)")
    start: Literal["trim_horizon", "latest"] | dict[str, str] = option(
        "trim_horizon", help="where shards without a checkpointed position start: "
        "'trim_horizon' (oldest retained record), 'latest' (records that arrive after the job "
        "first started), or {shard_id: sequence_number} to resume after those records "
        "(other shards start at trim_horizon)")
    value_format: Format = option("bytes", help="decode record data as bytes, str (UTF-8) or json")
    value_only: bool = option(
        True, help="records are the decoded data; false: dicts with shard, sequence_number, "
        "partition_key, data, approximate_arrival_timestamp (epoch seconds)")
    aws_access_key_id: str | None = secret(
        None, help="access key id; default: the normal boto3 credential chain")
    aws_secret_access_key: str | None = secret(
        None, help="secret access key (given together with aws_access_key_id)")
    # the three below tune delivery, not what is read: left out of the checkpoint fingerprint
    max_records_per_call: int = option(
        1000, help="Limit of one GetRecords call (1-10000)", identity=False)
    max_records_per_batch: int = option(
        10000, help="records one batch takes from a shard when no rate limit is set",
        identity=False)
    max_retries: int = option(
        8, help="retries of a throttled or failed call (exponential backoff with jitter)",
        identity=False)

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.stream_name.strip():
            raise ConfigError(f"{prefix}stream_name", "a stream name", self.stream_name)
        if not self.region.strip():
            raise ConfigError(f"{prefix}region", "an AWS region such as 'us-east-1'", self.region)
        if isinstance(self.start, dict):
            for shard, seq in self.start.items():
                if not seq.isdigit():
                    raise ConfigError(f"{prefix}start.{shard}",
                                      "a sequence number (a string of digits)", seq)
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ConfigError(f"{prefix}aws_secret_access_key",
                              "aws_access_key_id and aws_secret_access_key given together, or "
                              "neither (then the boto3 credential chain is used)",
                              has_value=False)
        if not 1 <= self.max_records_per_call <= 10000:
            raise ConfigError(f"{prefix}max_records_per_call", "an integer from 1 to 10000",
                              self.max_records_per_call)
        if self.max_records_per_batch < 1:
            raise ConfigError(f"{prefix}max_records_per_batch", "a positive integer",
                              self.max_records_per_batch)
        if self.max_retries < 0:
            raise ConfigError(f"{prefix}max_retries", "a non-negative integer", self.max_retries)
