"""The mongodb sink in jobs against FerretDB: round trips, dead letters, secrets.

Round trips run on the local, processes and Spark runners (writers pickled to worker
processes or Spark executors, each opening its own client). Records the sink or the server refuses reach the
dead letters with the reason, and the job goes on.
"""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.errors import ConfigError, EtlcoreError

pytestmark = pytest.mark.services

PASSWORD = "s3cr3t-Pa55-7f1e"


def docs(client: Any, database: str, collection: str) -> list[dict[str, Any]]:
    return sorted(client[database][collection].find(), key=lambda d: repr(d["_id"]))


@pytest.mark.parametrize("runner", ["local", "processes", "spark"])
def test_round_trip(runner: str, mongodb_uri: str, mongodb_client: Any, mongodb_database: str,
                    tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Keyed totals (state across batches) and raw events, writers shipped to the runner's
    workers (processes; Spark executors' Python workers), each opening its own client."""
    batches = [[{"user": f"u{i % 5}", "amount": i} for i in range(b * 20, b * 20 + 20)]
               for b in range(4)]
    options: dict[str, Any] = {"runner": runner}
    if runner == "processes":
        options["workers"] = 2
    elif runner == "spark":
        options["master"] = request.getfixturevalue("spark_master").url
    # one queued batch a batch on every runner (four batch times are checked below)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="round-trip",
                           parallelism=2, catch_up=False, **options)
    events = ctx.queue_stream(batches)
    events.sink("mongodb", uri=mongodb_uri, database=mongodb_database, collection="events",
                timestamp_field="batch_time")
    totals = (events.map(lambda r: (r["user"], r["amount"]))
              .update_state_by_key(lambda new, old: (old or 0) + sum(new)))
    totals.sink("mongodb", uri=mongodb_uri, database=mongodb_database, collection="totals",
                fields=["user", "total"], key=["user"], chunk_records=2)
    ctx.run(until_idle=True)
    assert ctx.dead_letters == []

    stored = docs(mongodb_client, mongodb_database, "totals")
    want = {f"u{u}": sum(i for i in range(80) if i % 5 == u) for u in range(5)}
    assert {d["_id"]: (d["user"], d["total"]) for d in stored} == {
        u: (u, t) for u, t in want.items()}

    events_stored = docs(mongodb_client, mongodb_database, "events")
    assert sorted((d["user"], d["amount"]) for d in events_stored) == sorted(
        (r["user"], r["amount"]) for b in batches for r in b)
    ids = {d["_id"] for d in events_stored}
    assert len(ids) == 80
    epoch = (tmp_path / "ckpt" / "epoch.json").read_text()
    assert all(i.split("/")[0] in epoch for i in ids)  # <epoch>/<batch>/<partition>/<index>
    # the batch's scheduled time, never the wall clock: one value per batch
    assert len({d["batch_time"] for d in events_stored}) == 4


def test_bad_records_go_to_dead_letters_with_the_reason(mongodb_uri: str, mongodb_client: Any,
                                                        mongodb_database: str) -> None:
    """Refused before sending (key, type, size) or by the server (a duplicate of a unique
    index, a field name it rejects): dead-lettered with why; the rest of the batch and the
    following batches are stored."""
    batches = [
        [{"sku": "a", "email": "a@x", "qty": 1}, {"sku": "b", "email": "b@x", "qty": 2}],
        [{"sku": "c", "email": "a@x", "qty": 3},           # duplicate of a unique index
         {"sku": "d", "email": "d@x", "qty": "four"},      # wrong type
         {"email": "e@x", "qty": 5},                        # no key
         {"sku": "f", "email": "f@x", "qty": 6, "x.y": 1},  # the server rejects the name
         {"sku": "g", "email": "g@x", "qty": 7, "pad": "p" * 3000},  # over the size limit
         {"sku": "h", "email": "h@x", "qty": 8}],
        [{"sku": "a", "email": "a@x", "qty": 10}],          # the same key: replaced
    ]
    ctx = StreamingContext(1.0, clock="manual", name="dead-letters")
    ctx.queue_stream(batches).sink(
        "mongodb", uri=mongodb_uri, database=mongodb_database, collection="stock", key=["sku"],
        unique_indexes=[["email"]], types={"qty": "int"}, max_document_bytes=2048)
    ctx.run(until_idle=True)

    reasons = {d["record"].get("sku"): d["reason"] for d in ctx.dead_letters}
    assert set(reasons) == {"c", "d", None, "f", "g"}, ctx.dead_letters
    assert "E11000 duplicate key" in reasons["c"] and "mongodb refused" in reasons["c"]
    assert "'qty' must be int" in reasons["d"]
    assert "key field 'sku' is missing" in reasons[None]
    assert "invalid key" in reasons["f"] and "x.y" in reasons["f"]  # the server's words
    assert "exceeds max_document_bytes" in reasons["g"]
    stored = {d["_id"]: d["qty"] for d in docs(mongodb_client, mongodb_database, "stock")}
    assert stored == {"a": 10, "b": 2, "h": 8}
    indexes = mongodb_client[mongodb_database]["stock"].index_information()
    assert indexes["etlcore_unique_email"]["unique"]


def test_password_never_shown(mongodb_uri: str, mongodb_database: str,
                              caplog: pytest.LogCaptureFixture) -> None:
    """A password in the uri: not in reprs, describe(), config errors, logs or errors."""
    from etlcore.plugin.registry import get_registry

    caplog.set_level(logging.DEBUG)
    uri = f"mongodb://etl:{PASSWORD}@127.0.0.1:1/?connectTimeoutMS=200"  # nothing listens
    entry = get_registry().get("sink", "mongodb")
    sink = entry.build({"uri": uri, "database": mongodb_database, "collection": "c",
                        "key": ["id"], "timeout_ms": 300, "max_retries": 1,
                        "retry_backoff_max": 0.1}, where="sink 'mongodb'")
    shown = [repr(sink), repr(sink.writer()), repr(sink.config), str(sink.describe()),
             repr(pickle.loads(pickle.dumps(sink.writer())))]
    assert "etl@127.0.0.1:1" in shown[0]  # the address is still shown
    with pytest.raises(ConfigError) as err:
        entry.build({"uri": uri, "database": "bad.name", "collection": "c"},
                    where="sink 'mongodb'")
    shown.append(str(err.value))
    ctx = StreamingContext(1.0, clock="manual", name="secrets")
    ctx.queue_stream([[{"id": 1}]]).to(sink, name="mongo")
    with pytest.raises(Exception) as failed:  # noqa: B017 - whatever the engine raises
        ctx.run(until_idle=True)
    shown.append(f"{failed.value!r} {failed.value} {getattr(failed.value, '__notes__', '')}")
    shown.append(caplog.text)
    assert "server unreachable" in caplog.text  # the outage was logged...
    for text in shown:
        assert PASSWORD not in text  # ...without the password


def test_missing_client_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymongo", None)  # as if not installed
    from etlcore_mongodb.sink import pymongo

    with pytest.raises(EtlcoreError, match="pip install 'pymongo>=4'"):
        pymongo()


def test_etlcore_plugins_lists_the_sink_and_its_keys() -> None:
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-m", "etlcore.cli", "plugins", "--json"],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    entries = data if isinstance(data, list) else data["plugins"]
    (entry,) = [e for e in entries if e["name"] == "mongodb" and e["kind"] == "sink"]
    assert entry["status"] == "ok" and entry["package"] == "etlcore-mongodb"
    keys = {c["name"]: c for c in entry["config"]}
    assert {"database", "collection", "uri", "key", "write_concern", "unique_indexes",
            "id_format", "max_retries"} <= set(keys)
    assert keys["password"]["secret"] and keys["database"]["required"]
    assert all(c["help"] for c in entry["config"])
