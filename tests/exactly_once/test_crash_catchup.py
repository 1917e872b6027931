"""A catch-up batch killed between its plan and its commit is replayed as logged.

The restarted job has another cap, so planning the batch anew would cut it
differently; it must replay the logged range, and the stored output must hold
every record exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.exactly_once.helpers import JOBS, ROOT, part_files

KILL_AT = 1


def run_job(ckpt: Path, out: Path, catch_up: int, kill_at: int = -1) -> int:
    env = {**os.environ, "CATCH_UP": str(catch_up), "KILL_AT": str(kill_at)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(JOBS / "catchup_job.py"), str(ckpt), str(out)],
                          env=env, capture_output=True, timeout=120)
    assert proc.returncode in (0, -9), proc.stderr.decode()
    return proc.returncode


def test_a_sigkill_between_plan_and_commit_replays_the_same_coalesced_batch(tmp_path):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    out.mkdir()
    assert run_job(ckpt, out, catch_up=9, kill_at=KILL_AT) == -9  # 3 steps of 3 a batch
    logged = json.loads((ckpt / "plans" / f"{KILL_AT:012d}.json").read_text())["ranges"]
    assert logged == {"steps": {"0": [3, 6]}}  # a coalesced batch, planned and logged
    assert not (ckpt / "commits" / f"{KILL_AT:012d}.json").exists()

    assert run_job(ckpt, out, catch_up=15) == 0  # 5 steps a batch from now on
    batches = [json.loads(line) for line in (out / "batches.jsonl").read_text().splitlines()]
    replayed = [b for b in batches if b["batch_id"] == KILL_AT]
    assert replayed == [{"batch_id": KILL_AT, "replay": True, "plan": logged, "records_in": 9}]
    after = [b["plan"]["steps"]["0"] for b in batches if b["batch_id"] > KILL_AT]
    assert after[0] == [6, 11]  # the new cap applies to batches planned after the restart
    ids = sorted(r["id"] for records in part_files(out / "files").values() for r in records)
    assert ids == list(range(60))
