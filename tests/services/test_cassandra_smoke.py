"""Smoke tests: the harness's Cassandra answers cassandra-driver (prepared upserts, restart)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args

pytestmark = pytest.mark.services


def test_prepared_upserts_round_trip(cassandra_session: Any, cassandra_keyspace: str) -> None:
    table = f"{cassandra_keyspace}.t_{uuid.uuid4().hex[:8]}"
    cassandra_session.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v text)")
    insert = cassandra_session.prepare(f"INSERT INTO {table} (k, v) VALUES (?, ?)")
    for tag in ("first", "second"):  # the second pass upserts the same keys
        results = execute_concurrent_with_args(
            cassandra_session, insert, [(i, f"{tag}-{i}") for i in range(1000)], concurrency=64)
        assert all(ok for ok, _ in results)
    assert cassandra_session.execute(f"SELECT count(*) FROM {table}").one()[0] == 1000
    assert cassandra_session.execute(f"SELECT v FROM {table} WHERE k = 7").one()[0] == "second-7"
    version = cassandra_session.execute("SELECT release_version FROM system.local").one()[0]
    assert version.startswith("5.0.")


def test_data_survives_a_restart(cassandra_session: Any, cassandra_keyspace: str,
                                 restart_service: Any) -> None:
    table = f"{cassandra_keyspace}.r_{uuid.uuid4().hex[:8]}"
    cassandra_session.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v int)")
    cassandra_session.execute(f"INSERT INTO {table} (k, v) VALUES (1, 10)")
    took = restart_service("cassandra")
    assert took > 0
    rows: list[Any] = []
    for _ in range(100):  # the driver reconnects on its own (0.5 s reconnection policy)
        try:
            rows = list(cassandra_session.execute(f"SELECT v FROM {table}"))
            break
        except Exception:  # noqa: BLE001 - NoHostAvailable until the pool is back
            time.sleep(0.2)
    assert [r.v for r in rows] == [10]
