"""The cassandra sink under etlcore's contract kit, against the harness's Cassandra node.

Each target is a fresh table created by the sink itself (create_table), so the kit's
clean runs and replays compare real rows, read back with their write timestamps: a replay
must write the very same cells, not merely the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cassandra_testlib import table_name

from etlcore.contract import REMOVE, SinkContract, Target
from etlcore.sink import Sink

pytestmark = pytest.mark.services

COLUMNS = {"id": "int", "name": "text", "score": "double"}


class TestCassandraUpsertSink(SinkContract):
    plugin_name = "cassandra"

    def config(self, path: Path) -> dict[str, Any]:
        base = self.request.getfixturevalue("base_config")
        return {**base, "table": table_name(), "columns": COLUMNS, "primary_key": ["id"],
                "create_table": True}

    def sample_records(self) -> list[Any]:
        # id 2 repeats (a later record wins), one tuple record in column order, one partial
        return [{"id": 1, "name": "a", "score": 1.5}, {"id": 2, "name": "b", "score": 2.0},
                (3, "c", 3.25), {"id": 4, "name": "d"}, {"id": 2, "name": "b2", "score": -1.0},
                {"id": 5, "name": "e", "score": 0.0}]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        session = self.request.getfixturevalue("cassandra_session")
        ks, table = target.config["keyspace"], target.config["table"]
        rows = session.execute(f'SELECT id, name, score, WRITETIME(name) FROM "{ks}"."{table}"')
        return [tuple(r) for r in rows]

    def bad_records(self) -> list[Any]:
        return [{"name": "no key"},                       # missing key field
                {"id": "seven", "name": "x"},             # wrong type for int
                {"id": 9, "score": "high"},               # wrong type for double
                {"id": 2**40, "name": "too wide"},        # beyond a 32-bit int
                {"id": 10, "colour": "red"},              # not a column
                {"id": None, "name": "null key"},
                (11, "too few values")]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"table": "Bad-Name"}, "table"), ({"consistency": "MOST"}, "consistency"),
                ({"primary_key": ["nope"]}, "primary_key"), ({"primary_key": REMOVE},
                                                               "primary_key"),
                ({"key": ["name"]}, "key"), ({"concurrency": 0}, "concurrency"),
                ({"ttl": 0}, "ttl"), ({"columns": {"id": "int; DROP"}}, "columns.id"),
                ({"username": "u"}, "password"), ({"contact_points": ["h:x"]},
                                                  "contact_points[0]"),
                ({"mode": "append"}, "primary_key")]


class TestCassandraAppendSink(SinkContract):
    """Append mode: rows keyed by (epoch, batch, partition, position); replays overwrite."""

    plugin_name = "cassandra"

    def config(self, path: Path) -> dict[str, Any]:
        base = self.request.getfixturevalue("base_config")
        return {**base, "table": table_name("a"), "mode": "append",
                "columns": {"word": "text", "n": "bigint"}, "create_table": True,
                "password": None, "username": None}

    def sample_records(self) -> list[Any]:
        return [{"word": "x", "n": 1}, {"word": "x", "n": 1}, ("y", 2), {"word": "z"},
                {"word": "x", "n": 1}]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        session = self.request.getfixturevalue("cassandra_session")
        ks, table = target.config["keyspace"], target.config["table"]
        # etl_position is the index in the partition's input, dead-lettered records included,
        # so it is left out: the kit's clean run of the good records alone numbers them
        # differently. A doubled row still shows as a repeated tuple in the multiset.
        rows = session.execute(f'SELECT etl_batch, etl_partition, word, n, '
                               f'WRITETIME(word) FROM "{ks}"."{table}"')
        return [tuple(r) for r in rows]

    def bad_records(self) -> list[Any]:
        return [{"word": 5}, {"n": "many"}, 42]
