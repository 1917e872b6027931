"""Exactly-once through crashes of the job (SIGKILL) and an outage of the server.

The crash job writes raw events (positional ids), windowed counts and running totals
(keyed ids) into FerretDB; after 20+ SIGKILLs at seeded random moments and a final
uninterrupted finish, every collection must equal an uninterrupted reference run's,
document for document (positional ids compared without the checkpoint's random epoch).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import svcharness  # the service harness (on sys.path through tests/services/fixtures/harness.py)
from mongo_crash_job import LAST

from etlcore import StreamingContext
from etlcore.contract.crash import check_exit, child_env, kill_loop, last_commit, seeded_rng, spawn

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("mongo_crash_job.py")
ROOT = Path(__file__).resolve().parents[3]
KILLS = 20


def stored(client: Any, database: str) -> dict[str, list[str]]:
    """Every document of the three collections, canonical JSON, sorted."""
    out = {}
    for name in ("events", "windowed", "totals"):
        docs = []
        for doc in client[database][name].find():
            if name == "events":  # <epoch>/<batch>/<partition>/<index>: the epoch is random
                epoch, rest = doc["_id"].split("/", 1)
                assert len(epoch) == 32, doc["_id"]
                doc["_id"] = rest
            docs.append(json.dumps(doc, sort_keys=True, default=str))
        out[name] = sorted(docs)
    return out


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_sigkill_loop_converges_to_one_uninterrupted_run(runner: str, mongodb_uri: str,
                                                         mongodb_client: Any,
                                                         mongodb_database: str,
                                                         tmp_path: Path) -> None:
    rng = seeded_rng()
    env = child_env(ROOT, JOB.parents[1])
    ref_db, db = f"{mongodb_database}_ref", mongodb_database
    try:
        t0 = time.monotonic()
        check_exit(spawn(JOB, env, mongodb_uri, ref_db, str(tmp_path / "ref-ckpt")),
                   timeout=120, tail=3000)
        t_ref = time.monotonic() - t0
        ckpt = tmp_path / "ckpt"
        argv = [mongodb_uri, db, str(ckpt), runner]
        kills = kill_loop(lambda: spawn(JOB, env, *argv), ckpt, rng, KILLS, timeout=60.0,
                          max_delay=0.4, adapt=False, poll=0.02)
        at_last_kill = last_commit(ckpt)
        check_exit(spawn(JOB, env, *argv), timeout=120, tail=3000)
        print(f"reference {t_ref:.1f}s; {kills} kills, last committed batch at the last "
              f"kill {at_last_kill} of {LAST}; total {time.monotonic() - t0:.1f}s")
        assert kills >= KILLS, f"the job finished after only {kills} kills: give it more data"
        assert last_commit(ckpt) >= LAST
        got, want = stored(mongodb_client, db), stored(mongodb_client, ref_db)
        assert len(want["events"]) == 2 * 600
        assert len(want["windowed"]) > 100 and len(want["totals"]) > 50
        for name in want:
            assert got[name] == want[name], f"{name} differs from the uninterrupted run"
    finally:
        mongodb_client.drop_database(ref_db)


def test_server_outage_mid_job_retries_and_loses_nothing(
        mongodb_uri: str, mongodb_client: Any, mongodb_database: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The server is stopped for 12 s while the job writes: chunks are retried (warnings, a
    counter), the job catches up, and every record is stored once."""
    from etlcore_mongodb.sink import STATS

    caplog.set_level(logging.WARNING)
    n, per_batch = 1500, 50
    batches = [[{"id": i, "v": i * 3} for i in range(b, b + per_batch)]
               for b in range(0, n, per_batch)]
    ctx = StreamingContext(0.05, tmp_path / "ckpt", name="outage-job")
    stream = ctx.queue_stream(batches)
    stream.sink("mongodb", uri=mongodb_uri, database=mongodb_database, collection="keyed",
                key=["id"], timeout_ms=1000, max_retries=40, retry_backoff_max=1.0)
    stream.map(lambda r: r["id"]).sink("mongodb", uri=mongodb_uri, database=mongodb_database,
                                       collection="raw", fields=["id"], timeout_ms=1000,
                                       max_retries=40, retry_backoff_max=1.0)
    before = STATS["transient_errors"]
    ctx.start()
    try:
        coll = mongodb_client[mongodb_database]["keyed"]
        deadline = time.monotonic() + 60
        while coll.count_documents({}) < 200:
            assert time.monotonic() < deadline, "the job stored nothing"
            time.sleep(0.1)
        outage = threading.Event()

        def stop_start() -> None:  # SIGKILL (a crash), 12 s down, start on the same data
            svc = svcharness.get("mongodb")
            svc.stop(kill=True)
            outage.set()
            time.sleep(12)
            svc.start()

        t = threading.Thread(target=stop_start)
        t.start()
        outage.wait(30)
        batches_down = ctx.metrics.total_batches
        t.join(90)
        deadline = time.monotonic() + 120
        while ctx.metrics.total_records_in < n or coll.count_documents({}) < n:
            assert time.monotonic() < deadline, "the job did not catch up after the outage"
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        ctx.stop()
        ctx.await_termination(60)
    assert ctx.metrics.total_batches > batches_down + 2  # it went on after the restart
    assert STATS["transient_errors"] > before  # the outage is counted...
    assert "server unreachable" in caplog.text  # ...and logged as a warning
    keyed = {d["_id"]: d["v"] for d in coll.find()}
    assert keyed == {i: i * 3 for i in range(n)}
    raw = [d["id"] for d in mongodb_client[mongodb_database]["raw"].find()]
    assert sorted(raw) == list(range(n))  # every event once: none lost, none doubled
