"""MongoDB (FerretDB from the service harness): pymongo's bulk_write against the mongodb sink.

Both sides write the same rows as ``ReplaceOne({_id: id}, doc, upsert=True)`` with
``ordered=False`` in chunks of ``CHUNK``: the raw side builds the documents from the
tuples and calls ``bulk_write`` itself; the etlcore side runs a job (manual clock, a queue
source of ``batch_size``-record batches, local runner) through the ``mongodb`` sink, which
also checks each record (key present, BSON encodable, size) and encodes it once.

The ``_id`` is the id as a string on both sides (``id_format: string``, the JSON text of an
integer is its digits): FerretDB v1 looks up only string and ObjectId ``_id``s by index and
scans the collection for an integer one, so integer ids make a load quadratic.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.stores import Row, StoreBench

DATABASE, COLLECTION = "etlcore_bench", "rows"
CHUNK = 1000
FIELDS = ["id", "user", "amount", "ts"]


class MongoBench(StoreBench):
    name = "mongodb"
    service = "mongodb"

    def __init__(self) -> None:
        self.client: Any = None

    @property
    def uri(self) -> str:
        return os.environ.get("ETLCORE_MONGODB_URI", "mongodb://127.0.0.1:27017/")

    def setup(self) -> None:
        from pymongo import MongoClient

        self.client = MongoClient(self.uri, serverSelectionTimeoutMS=10_000,
                                  socketTimeoutMS=600_000)
        self.client.drop_database(DATABASE)

    def reset(self) -> None:
        self.client[DATABASE].drop_collection(COLLECTION)

    def raw(self, rows: list[Row]) -> None:
        from pymongo import ReplaceOne

        coll = self.client[DATABASE][COLLECTION]
        for start in range(0, len(rows), CHUNK):
            ops = [ReplaceOne({"_id": str(r[0])}, {"id": r[0], "user": r[1], "amount": r[2],
                                                   "ts": r[3]}, upsert=True)
                   for r in rows[start:start + CHUNK]]
            coll.bulk_write(ops, ordered=False)

    def through_etlcore(self, rows: list[Row], batch_size: int) -> None:
        from etlcore import StreamingContext

        ctx = StreamingContext(1.0, clock="manual", name="bench-mongodb")
        batches = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        ctx.queue_stream(batches).sink("mongodb", uri=self.uri, database=DATABASE,
                                       collection=COLLECTION, key=["id"], id_format="string",
                                       fields=FIELDS, chunk_records=CHUNK)
        ctx.run(until_idle=True)
        if ctx.dead_letters:
            raise RuntimeError(f"dead letters in the benchmark: {ctx.dead_letters[:3]}")

    def count(self) -> int:
        return int(self.client[DATABASE][COLLECTION].count_documents({}))

    def close(self) -> None:
        if self.client is not None:
            self.client.drop_database(DATABASE)
            self.client.close()

    def describe(self) -> dict[str, Any]:
        import pymongo

        info = self.client.server_info() if self.client is not None else {}
        return {"client": f"pymongo {pymongo.version}", "chunk": CHUNK,
                "server": f"FerretDB {info.get('ferretdbVersion', '?')} (sqlite)"}


BENCH = MongoBench()
