"""HBase: happybase's batched puts (raw) against the ``hbase`` sink in an etlcore job.

Both write the same cells through the harness's Thrift v1 server: row key ``str(id)``,
family ``cf`` with ``id``, ``user``, ``amount`` and ``ts`` as text, in ``mutateRows``
calls of ``CHUNK`` rows (happybase ``Batch(batch_size=CHUNK)``). The etlcore side reads
the rows from a queue source (one micro-batch per ``batch_size`` rows, manual clock) and
additionally stamps every cell with the batch time, as the sink always does.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.stores import Row, StoreBench

TABLE = "etlcore_bench"
CHUNK = 1000


class HBaseBench(StoreBench):
    name = "hbase"
    service = "hbase"

    def __init__(self) -> None:
        self.conn: Any = None

    def _address(self) -> tuple[str, int]:
        return (os.environ.get("ETLCORE_HBASE_HOST", "127.0.0.1"),
                int(os.environ.get("ETLCORE_HBASE_PORT", "9090")))

    def setup(self) -> None:
        import happybase

        host, port = self._address()
        self.conn = happybase.Connection(host, port, timeout=120_000)
        if TABLE.encode() not in self.conn.tables():
            self.conn.create_table(TABLE, {"cf": {"max_versions": 1}})

    def reset(self) -> None:
        self.conn.delete_table(TABLE, disable=True)
        self.conn.create_table(TABLE, {"cf": {"max_versions": 1}})

    def raw(self, rows: list[Row]) -> None:
        table = self.conn.table(TABLE)
        with table.batch(batch_size=CHUNK) as batch:
            for id_, user, amount, ts in rows:
                batch.put(str(id_).encode(), {b"cf:id": str(id_).encode(),
                                              b"cf:user": user.encode(),
                                              b"cf:amount": repr(amount).encode(),
                                              b"cf:ts": str(ts).encode()})

    def through_etlcore(self, rows: list[Row], batch_size: int) -> None:
        from etlcore import StreamingContext

        host, port = self._address()
        batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        ctx = StreamingContext(1.0, clock="manual", name="bench-hbase", parallelism=1)
        ctx.queue_stream(batches).sink(
            "hbase", host=host, port=port, table=TABLE, row_key="{id}",
            fields=["id", "user", "amount", "ts"], batch_size=CHUNK, batch_bytes=64 << 20)
        ctx.run(until_idle=True)

    def count(self) -> int:
        return sum(1 for _ in self.conn.table(TABLE).scan(filter=b"FirstKeyOnlyFilter()",
                                                          batch_size=5000))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.delete_table(TABLE, disable=True)
            self.conn.close()
            self.conn = None

    def describe(self) -> dict[str, Any]:
        import happybase

        return {"client": f"happybase {happybase.__version__}", "chunk_rows": CHUNK,
                "server": "HBase 2.6.1 standalone + Thrift v1 (buffered, binary)"}


BENCH = HBaseBench()
