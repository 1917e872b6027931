"""The kinesis source under etlcore's contract kit, against kinesalite (the service harness).

Each test gets its own two-shard stream; readers re-read planned ranges by
sequence number, so replays and shipped readers agree with the planner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kinesis_testlib import numbered, put

from etlcore.contract import REMOVE, SourceContract
from etlcore.source import Source

pytestmark = pytest.mark.services


class TestKinesisSource(SourceContract):
    plugin_name = "kinesis"
    max_records = 4

    def config(self, path: Path) -> dict[str, Any]:
        stream = self.request.getfixturevalue("kinesis_stream_factory")(shards=2)
        settings = self.request.getfixturevalue("source_config")
        return {**settings, "stream_name": stream, "value_format": "json"}

    def _put(self, source: Source, records: list[tuple[str, bytes]]) -> None:
        client = self.request.getfixturevalue("kinesis_client")
        put(client, source.config.stream_name, records)  # type: ignore[attr-defined]

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        records = numbered(round * 100, 9, tag=f"round{round}")
        self._put(source, records)
        return [json.loads(data) for _, data in records]

    def produce_bad(self, source: Source) -> list[Any]:
        """Data that is not JSON is yielded as Rejected (the raw bytes) and dead-lettered."""
        self._put(source, [("k0", b'{"i": 1}'), ("k1", b"{not json"), ("k2", b"\xff\xfe")])
        return [b"{not json", b"\xff\xfe"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"stream_name": " "}, "stream_name"), ({"value_format": "xml"}, "value_format"),
                ({"max_records_per_call": 0}, "max_records_per_call"),
                ({"start": {"shardId-000000000000": "abc"}}, "start.shardId-000000000000"),
                ({"aws_access_key_id": REMOVE}, "aws_secret_access_key"),
                ({"stream_name": REMOVE}, "stream_name")]
