"""Run job files as real processes, kill them with SIGKILL, read what they stored."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOBS = Path(__file__).resolve().parent / "jobs"


def spawn(job: str, *args: str | os.PathLike[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, str(JOBS / job), *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` s; False if it had already exited (then it must be 0)."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    check_exit(proc)
    return False


def check_exit(proc: subprocess.Popen[bytes], timeout: float | None = None) -> None:
    proc.wait(timeout)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, f"job failed with {proc.returncode}:\n{err}"


def part_files(root: Path) -> dict[str, list[object]]:
    """Every committed part file under ``root`` (temp and marker files skipped), parsed."""
    out = {}
    for path in sorted(root.rglob("part-*")):
        if not path.name.startswith("."):
            out[str(path.relative_to(root))] = [json.loads(x) for x in path.read_text().splitlines()]
    return out


def table(db: Path, name: str, order: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()
    finally:
        conn.close()
