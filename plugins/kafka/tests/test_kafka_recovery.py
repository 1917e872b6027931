"""Exactly-once through crashes of the job (SIGKILL) and of the broker (restart)."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from etlcore.context import StreamingContext
from kafka_testlib import produce_json, read_all, values, wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("kafka_crash_job.py")


def _assert_exactly_once(bootstrap: str, topic: str, n: int) -> None:
    got = values(read_all(bootstrap, topic, "read_committed", expect=n, timeout=30))
    ids = [v["id"] for v in got]
    assert len(ids) == n, f"{len(ids)} records, {len(ids) - len(set(ids))} duplicates"
    assert sorted(ids) == list(range(n))
    assert all(v["double"] == 2 * v["id"] for v in got)


@pytest.mark.parametrize("runner", [[], ["--processes"]], ids=["local", "processes"])
def test_sigkill_loop_converges_to_exactly_once(kafka_bootstrap: str,
                                                topics: Callable[..., str], tmp_path: Path,
                                                subprocess_env: dict[str, str],
                                                runner: list[str]) -> None:
    """Kill the job (and its workers) with SIGKILL 12 times at seeded random moments; the
    output is exact."""
    src, dst = topics(partitions=3), topics(partitions=3)
    n = 6000
    produce_json(kafka_bootstrap, src, [{"id": i} for i in range(n)])
    ckpt = tmp_path / "ckpt"
    argv = [sys.executable, str(JOB), kafka_bootstrap, src, dst, str(ckpt), *runner]
    rng = random.Random(20240611)
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(argv, env=subprocess_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            proc.wait(timeout=rng.uniform(0.6, 1.6))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes at once
            proc.wait(timeout=30)
            kills += 1
        else:
            pytest.fail(f"the job ended by itself: {proc.stderr.read().decode()[-2000:]}")
        finally:
            proc.stderr.close()
    done = subprocess.run(argv + ["--until-idle"], env=subprocess_env, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert kills >= 10
    commits = list((ckpt / "commits").glob("*.json"))
    assert len(commits) > 10  # the kills fell among many batches
    _assert_exactly_once(kafka_bootstrap, dst, n)


def test_broker_restart_mid_job_loses_nothing(kafka_bootstrap: str, topics: Callable[..., str],
                                              tmp_path: Path,
                                              restart_service: Callable[..., float],
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The job waits out a broker restart, retries, and delivers every record once."""
    caplog.set_level(logging.WARNING, logger="etlcore.kafka")
    src, dst = topics(partitions=2), topics(partitions=2)
    produce_json(kafka_bootstrap, src, [{"id": i} for i in range(1000)])
    ctx = StreamingContext(0.1, tmp_path / "ckpt", name="restart-job",
                           max_rate_per_partition=2000)
    (ctx.source("kafka", bootstrap_servers=kafka_bootstrap, topics=[src])
        .map(lambda v: {"id": v["id"], "double": v["id"] * 2})
        .sink("kafka", bootstrap_servers=kafka_bootstrap, topic=dst, key_field="id"))
    ctx.start()
    try:
        wait_for(lambda: ctx.metrics.total_records_in >= 1000, 30, "the first 1000 records")
        batches_before = ctx.metrics.total_batches
        took = restart_service("kafka")
        produced = threading.Thread(target=produce_json, args=(
            kafka_bootstrap, src, [{"id": i} for i in range(1000, 2000)]))
        produced.start()
        produced.join(60)
        wait_for(lambda: ctx.metrics.total_records_in >= 2000, 60, "records after the restart")
        assert ctx.metrics.total_batches > batches_before
    finally:
        ctx.stop()
        ctx.await_termination(30)
    assert took > 0
    assert "unreachable" in caplog.text  # it said why it was waiting
    _assert_exactly_once(kafka_bootstrap, dst, 2000)
