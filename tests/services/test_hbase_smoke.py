"""Smoke tests: the harness's HBase answers happybase through Thrift v1, and Thrift can be
stopped and started alone under a running master."""

from __future__ import annotations

from collections.abc import Callable

import happybase
import pytest

pytestmark = pytest.mark.services


def test_put_scan_round_trip(hbase_thrift: tuple[str, int],
                             hbase_table_factory: Callable[..., str]) -> None:
    host, port = hbase_thrift
    table_name = hbase_table_factory(families=("cf", "meta"))
    conn = happybase.Connection(host, port, timeout=30000)
    try:
        table = conn.table(table_name)
        with table.batch(batch_size=200, timestamp=1234) as batch:
            for i in range(1000):
                batch.put(f"row{i:04d}".encode(), {b"cf:n": str(i).encode(), b"meta:k": b"x"})
        rows = list(table.scan(include_timestamp=True))
        assert len(rows) == 1000
        assert rows[7] == (b"row0007", {b"cf:n": (b"7", 1234), b"meta:k": (b"x", 1234)})
        assert sorted(table.families()) == [b"cf", b"meta"]
    finally:
        conn.close()


def test_thrift_restart_keeps_data(hbase_service, hbase_thrift: tuple[str, int],
                                   hbase_table_factory: Callable[..., str]) -> None:
    host, port = hbase_thrift
    table_name = hbase_table_factory()
    conn = happybase.Connection(host, port, timeout=30000)
    conn.table(table_name).put(b"k", {b"cf:v": b"1"})
    conn.close()
    assert hbase_service.stop_thrift()
    with pytest.raises(Exception):  # noqa: B017 - connection refused, whatever its type
        happybase.Connection(host, port, timeout=2000).tables()
    took = hbase_service.start_thrift()
    assert took > 0
    conn = happybase.Connection(host, port, timeout=30000)
    try:
        assert conn.table(table_name).row(b"k") == {b"cf:v": b"1"}
    finally:
        conn.close()
