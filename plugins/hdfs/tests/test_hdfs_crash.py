"""Exactly-once through SIGKILLs of a job reading from and writing to HDFS.

The job (``hdfs_crash_job.py``) runs as a subprocess and is killed with SIGKILL
(with its worker processes) at seeded random moments after it committed a new
batch, then restarted on the same checkpoint; a final run finishes
uninterrupted. Its output directory must then hold exactly, byte for byte, what
one uninterrupted reference run writes: the same part files and ``_SUCCESS``
markers, nothing missing, doubled or left over (no temp file) from a killed attempt.
The job runs once with a local checkpoint and once with its checkpoint on HDFS
(``ROOT/ckpt``: plans, commits, state, the source's manifest and the lease).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hdfs_crash_job import FILES, LAST, PER_FILE, make_input
from hdfs_testlib import committed, files

from etlcore.contract.crash import check_exit, kill_loop, last_commit, seeded_rng, spawn

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("hdfs_crash_job.py")
KILLS = 20
KILLS_REMOTE_CHECKPOINT = 10
RUNNER = "local"  # one process: a restart costs least (the s3 test also runs "processes")


@pytest.mark.parametrize("checkpoint", ["local", "hdfs"])
def test_sigkill_loop_writes_what_one_uninterrupted_run_writes(
        checkpoint: str, hdfs_client: Any, hdfs_dir_factory: Any, hdfs_server: Any,
        subprocess_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = seeded_rng()
    env = {**subprocess_env, "HADOOP_USER_NAME": hdfs_server.user}
    monkeypatch.setenv("HADOOP_USER_NAME", hdfs_server.user)  # last_commit() on HDFS
    root = hdfs_dir_factory()
    make_input(hdfs_client, f"{root}/in")
    base = f"{hdfs_server.url}{root}" if checkpoint == "hdfs" else str(tmp_path)
    want_kills = KILLS_REMOTE_CHECKPOINT if checkpoint == "hdfs" else KILLS
    t0 = time.monotonic()
    # the uninterrupted reference run goes on meanwhile: it writes elsewhere
    ref = spawn(JOB, env, hdfs_server.url, root, "ref", f"{base}/ref-ckpt", RUNNER)
    try:
        ckpt = f"{base}/ckpt"
        argv = [hdfs_server.url, root, "got", ckpt, RUNNER]
        kills = kill_loop(lambda: spawn(JOB, env, *argv), ckpt, rng,  # type: ignore[arg-type]
                          want_kills)
        print(f"{kills} kills, last committed batch {last_commit(ckpt)} of {LAST} "
              f"after {time.monotonic() - t0:.1f}s")
        assert kills >= want_kills, f"the job finished after only {kills} kills: give it more data"
        check_exit(spawn(JOB, env, *argv), timeout=300)
    finally:
        check_exit(ref, timeout=300)

    want = files(hdfs_client, f"{root}/ref")
    got = files(hdfs_client, f"{root}/got")
    events = committed(hdfs_client, f"{root}/ref/events")
    assert sorted((r["f"], r["i"]) for r in events) == [
        (f, i) for f in range(FILES) for i in range(PER_FILE)]
    assert sum(k.startswith("events/") and k.endswith("/_SUCCESS") for k in want) == LAST
    assert any(k.startswith("windowed/") for k in want)
    assert sorted(got) == sorted(want)
    for key, data in want.items():
        assert got[key] == data, key
    if checkpoint == "hdfs":
        held = files(hdfs_client, f"{root}/ckpt")
        assert "metadata.json" in held and f"commits/{LAST:012d}.json" in held
        assert any(k.startswith("sources/") and "/manifest/" in k for k in held)
        assert any(k.startswith("_lease/") for k in held)
        assert not (tmp_path / "ckpt").exists()
