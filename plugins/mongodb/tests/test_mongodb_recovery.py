"""Exactly-once through crashes of the job (SIGKILL) and an outage of the server.

The crash job writes raw events (positional ids), windowed counts and running totals
(keyed ids) into FerretDB; after 20+ SIGKILLs at seeded random moments and a final
uninterrupted finish, every collection must equal an uninterrupted reference run's,
document for document (positional ids compared without the checkpoint's random epoch).
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import svcharness  # the service harness (on sys.path through tests/services/fixtures.py)
from mongo_crash_job import LAST, last_commit

from etlcore import StreamingContext

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("mongo_crash_job.py")
ROOT = Path(__file__).resolve().parents[3]
KILLS = 20


def spawn(*args: str | os.PathLike[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    paths = [str(ROOT), str(JOB.parents[1]), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return subprocess.Popen([sys.executable, str(JOB), *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def check_exit(proc: subprocess.Popen[bytes], timeout: float | None = None) -> None:
    proc.wait(timeout)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, f"job failed with {proc.returncode}:\n{err[-3000:]}"


def kill_after_progress(proc: subprocess.Popen[bytes], ckpt: Path, rng: random.Random,
                        timeout: float = 60.0) -> bool:
    """SIGKILL the job (and its workers) a random moment after it committed a new batch;
    False if it ended by itself first."""
    before = last_commit(ckpt)
    deadline = time.monotonic() + timeout
    while last_commit(ckpt) <= before:
        if proc.poll() is not None:
            check_exit(proc)
            return False
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.4))
    if proc.poll() is not None:
        check_exit(proc)
        return False
    os.killpg(proc.pid, 9)  # the driver and its worker processes at once
    proc.wait()
    if proc.stderr:
        proc.stderr.close()
    return True


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
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    ref_db, db = f"{mongodb_database}_ref", mongodb_database
    try:
        t0 = time.monotonic()
        check_exit(spawn(mongodb_uri, ref_db, tmp_path / "ref-ckpt"), timeout=120)
        t_ref = time.monotonic() - t0
        ckpt = tmp_path / "ckpt"
        kills = 0
        while kills < KILLS:
            if not kill_after_progress(spawn(mongodb_uri, db, ckpt, runner), ckpt, rng):
                break
            kills += 1
        at_last_kill = last_commit(ckpt)
        check_exit(spawn(mongodb_uri, db, ckpt, runner), timeout=120)
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
