"""Exactly once through SIGKILLs: a kinesis -> sqlite job killed and restarted repeatedly."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kinesis_testlib import assert_shard_order, numbered, put
from svcharness.base import port_open

from tests.services.fixtures.harness import ensure_service

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("kinesis_job.py")
TOTAL = 1500
KILLS = 6
PORT = int(os.environ.get("ETLCORE_KINESIS_PORT", "4567"))


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, str(JOB), *args], stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)


def _plans(checkpoint: Path) -> int:
    folder = checkpoint / "plans"
    return len(list(folder.glob("*.json"))) if folder.is_dir() else 0


def _settle(client: Any) -> None:
    """Wait out a kinesalite crash and restart it on the same data.

    kinesalite exits when a client dies mid-request (its ``req.on('error')``
    throws); a real Kinesis stays up, so the test brings it back.
    """
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.list_streams(Limit=1)
            return
        except Exception:  # noqa: BLE001 - down or dying: wait for the port to close
            if not port_open(PORT):
                break
            time.sleep(0.05)
    ensure_service("kinesis")


def _output(db: Path) -> list[dict[str, Any]]:
    """Every committed row in insertion order, shaped like value_only=False records."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT i, shard, seq FROM records ORDER BY rowid").fetchall()
    return [{"data": {"i": i}, "shard": shard, "sequence_number": seq} for i, shard, seq in rows]


@pytest.mark.parametrize("runner", [[], ["--processes"]], ids=["local", "processes"])
def test_sigkill_and_restart_is_exactly_once(
    kinesis_client: Any, kinesis_stream_factory: Any, kinesis_endpoint: str, tmp_path: Path,
    runner: list[str],
) -> None:
    stream = kinesis_stream_factory(shards=2)
    checkpoint, db, log = tmp_path / "ckpt", tmp_path / "out.db", tmp_path / "job.log"
    # every run is the same job (the checkpoint refuses a changed transform): same --slow
    args = [stream, kinesis_endpoint, str(checkpoint), str(db), "--slow", "0.002", *runner]
    rng = random.Random(20240611)
    put(kinesis_client, stream, numbered(0, 300))
    chunks = iter(range(300, TOTAL, (TOTAL - 300) // KILLS))
    for _ in range(KILLS):
        before = _plans(checkpoint)
        job = _start(args, log)
        deadline = time.monotonic() + 20
        while _plans(checkpoint) == before and job.poll() is None:
            assert time.monotonic() < deadline, "the job planned no batch"
            time.sleep(0.01)
        start = next(chunks)  # more records arrive while the job runs
        put(kinesis_client, stream, numbered(start, (TOTAL - 300) // KILLS))
        time.sleep(rng.uniform(0.05, 0.6))
        assert job.poll() is None, log.read_text()[-3000:]
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(10)
        _settle(kinesis_client)
    final = _start([*args, "--until-idle"], log)
    assert final.wait(60) == 0, log.read_text()[-3000:]

    records = _output(db)
    numbers = [r["data"]["i"] for r in records]
    assert len(numbers) == len(set(numbers)), "a record was written twice"
    assert sorted(numbers) == list(range(TOTAL))
    assert_shard_order(records)
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("replaying uncommitted batch") >= 1, "no kill landed mid-batch"
