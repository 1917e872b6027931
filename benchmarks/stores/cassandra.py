"""Cassandra: ``execute_concurrent`` of a prepared INSERT, bound up front, vs the sink.

The raw side binds every row first, then sends the bound statements with
``execute_concurrent``: on this machine that beat ``execute_concurrent_with_args`` (which
binds on the driver's event loop between requests) by 10-20% at the same concurrency, and it
is what the sink does per chunk, so the ratio is etlcore's own overhead. The cyclic garbage
collector is off during the raw write, as etlcore's scheduler turns it off while a batch
runs: with it on, the 100,000 live bound statements and futures cost the raw side ~30%.

Both sides use the same driver settings (protocol v5, consistency ONE, token-aware
round robin, the same number of requests in flight) on the harness's single node. The
etlcore side runs a job (manual clock, local runner) of ``batch_size``-record batches from
a queue source, tuples matched to the declared columns, and pays for its own connection
(the sink's driver-side schema check and the writer's session) inside the timed run.
"""

from __future__ import annotations

import gc
import os
import uuid
from typing import Any

from benchmarks.stores import Row, StoreBench

CONCURRENCY = 128
COLUMNS = {"id": "int", "user": "text", "amount": "double", "ts": "bigint"}


class CassandraBench(StoreBench):
    name = "cassandra"
    service = "cassandra"

    def __init__(self) -> None:
        self.cluster: Any = None
        self.session: Any = None
        self.keyspace = f"bench_{uuid.uuid4().hex[:8]}"
        self.table = "rows"

    def _contact(self) -> tuple[str, int]:
        contact = os.environ.get("ETLCORE_CASSANDRA_CONTACT", "127.0.0.1:9042")
        host, _, port = contact.rpartition(":")
        return host, int(port)

    def setup(self) -> None:
        from cassandra import ConsistencyLevel
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

        host, port = self._contact()
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            consistency_level=ConsistencyLevel.ONE, request_timeout=30)
        self.cluster = Cluster([host], port=port, protocol_version=5,
                               execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        self.session = self.cluster.connect()
        self.session.execute(f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication "
                             "= {'class': 'SimpleStrategy', 'replication_factor': 1}")
        cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        self.session.execute(f"CREATE TABLE IF NOT EXISTS {self.keyspace}.{self.table} "
                             f"({cols}, PRIMARY KEY (id))")
        self.insert = self.session.prepare(
            f'INSERT INTO {self.keyspace}.{self.table} (id, "user", amount, ts) '
            "VALUES (?, ?, ?, ?)")

    def reset(self) -> None:
        self.session.execute(f"TRUNCATE {self.keyspace}.{self.table}", timeout=120)
        # untimed: collect what setup and the previous run left (the rows, freed results)
        # so neither side pays for the other's garbage in its first collection
        gc.collect()

    def raw(self, rows: list[Row]) -> None:
        from cassandra.concurrent import execute_concurrent

        bind = self.insert.bind
        gc.disable()
        try:
            results = execute_concurrent(self.session, [(bind(r), None) for r in rows],
                                         concurrency=CONCURRENCY)
        finally:
            gc.enable()
        failed = [r for ok, r in results if not ok]
        if failed:
            raise RuntimeError(f"{len(failed)} raw writes failed: {failed[0]}")

    def through_etlcore(self, rows: list[Row], batch_size: int) -> None:
        from etlcore import StreamingContext

        host, port = self._contact()
        batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        ctx = StreamingContext(1.0, clock="manual", name="bench-cassandra")
        ctx.queue_stream(batches).sink(
            "cassandra", contact_points=[host], port=port, keyspace=self.keyspace,
            table=self.table, columns=COLUMNS, primary_key=["id"], consistency="ONE",
            protocol_version=5, concurrency=CONCURRENCY, chunk_records=batch_size)
        ctx.run(until_idle=True)
        if ctx.dead_letters:
            raise RuntimeError(f"dead letters: {ctx.dead_letters[:3]}")

    def count(self) -> int:
        return int(self.session.execute(f"SELECT count(*) FROM {self.keyspace}.{self.table}",
                                        timeout=120).one()[0])

    def close(self) -> None:
        if self.session is not None:
            self.session.execute(f"DROP KEYSPACE IF EXISTS {self.keyspace}", timeout=120)
        if self.cluster is not None:
            self.cluster.shutdown()

    def describe(self) -> dict[str, Any]:
        import cassandra

        return {"driver": cassandra.__version__, "concurrency": CONCURRENCY,
                "consistency": "ONE", "protocol": 5}


BENCH = CassandraBench()
