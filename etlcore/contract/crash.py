"""The SIGKILL crash loop of exactly-once tests, shared by connectors' test suites.

A crash test runs a job as a subprocess (in its own process group, so its
worker processes die with it), kills it with SIGKILL at seeded random moments
after it committed a new batch, restarts it on the same checkpoint, and lets a
last run finish: its output must then equal what one uninterrupted run writes.

    rng = seeded_rng()                      # prints the seed; ETLCORE_CRASH_SEED replays it
    kills = kill_loop(lambda: spawn(JOB, env, *argv), ckpt, rng, kills=20)
    check_exit(spawn(JOB, env, *argv), timeout=300)
"""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=16)
def _remote_store(url: str) -> Any:
    """The store of a checkpoint URL, made once: a new client per poll took long enough
    in a busy test process for the job to run dozens of batches between two kills."""
    from etlcore.ckptstore import open_store

    return open_store(url)


def last_commit(ckpt: Path | str) -> int:
    """The greatest batch id with a commit record in the checkpoint (-1: none yet).

    ``ckpt`` may be the URL of a checkpoint on shared storage (``s3://``, ``hdfs://``).
    """
    from etlcore.ckptstore import is_remote

    if is_remote(ckpt):  # one client per URL: kill loops poll this every few milliseconds
        return max(_remote_store(str(ckpt)).ids("commits", ".json"), default=-1)
    ids = [int(p.stem) for p in (Path(ckpt) / "commits").glob("*.json") if p.stem.isdigit()]
    return max(ids, default=-1)


def child_env(*paths: str | os.PathLike[str]) -> dict[str, str]:
    """This process's environment with ``paths`` first on ``PYTHONPATH``, so a job
    subprocess imports etlcore and the suite's helpers from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (*map(str, paths), env.get("PYTHONPATH", "")) if p)
    return env


def seeded_rng() -> random.Random:
    """A random source whose seed is printed (and taken from ``ETLCORE_CRASH_SEED``)."""
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    return random.Random(seed)


def spawn(script: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``python script args...`` in a new process group, stderr kept for failures."""
    return subprocess.Popen([sys.executable, str(script), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def check_exit(proc: subprocess.Popen[bytes], timeout: float | None = None,
               tail: int = 4000) -> None:
    """Wait for the job; fail with the last ``tail`` characters of its stderr unless it
    exited 0."""
    proc.wait(timeout)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    assert proc.returncode == 0, f"job failed with {proc.returncode}:\n{err[-tail:]}"


def kill_after_progress(proc: subprocess.Popen[bytes], ckpt: Path, rng: random.Random,
                        timeout: float = 90.0, max_delay: float = 0.3,
                        periods: list[float] | None = None, poll: float = 0.01) -> bool:
    """SIGKILL the job's process group a random moment (up to ``max_delay`` s) after it
    committed a new batch; False if it ended by itself first (its exit status checked).

    Seconds between two commits seen while waiting to kill are appended to ``periods``;
    the checkpoint is looked at every ``poll`` seconds until the job commits.
    """
    before = last_commit(ckpt)
    deadline = time.monotonic() + timeout
    try:
        while last_commit(ckpt) <= before:
            if proc.poll() is not None:
                check_exit(proc)
                return False
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(poll)
        seen, at = last_commit(ckpt), time.monotonic()
        kill_at = at + rng.uniform(0.0, max_delay)
        while time.monotonic() < kill_at:
            time.sleep(0.005)
            now = last_commit(ckpt)
            if now > seen and periods is not None:
                periods.append((time.monotonic() - at) / (now - seen))
                seen, at = now, time.monotonic()
        if proc.poll() is not None:
            check_exit(proc)
            return False
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes at once
        proc.wait()
        return True
    finally:
        if proc.stderr and not proc.stderr.closed:
            proc.stderr.close()


def kill_loop(start: Callable[[], subprocess.Popen[bytes]], ckpt: Path, rng: random.Random,
              kills: int, timeout: float = 90.0, max_delay: float = 0.3,
              adapt: bool = True, poll: float = 0.01) -> int:
    """Start and kill the job up to ``kills`` times; how many kills landed before it ended.

    A kill lands up to one batch after a commit: ``max_delay`` at first, then no more
    than the shortest time between two commits seen so far, so a fast job is still
    killed once per batch or so (kills land all through a batch, and a job of N
    batches takes about N kills, however fast the machine). With ``adapt=False`` every
    kill lands up to ``max_delay`` after a commit, whatever the job's pace (the older
    suites' timing, kept so their kill counts mean what they meant).
    """
    done = 0
    periods: list[float] | None = [] if adapt else None
    while done < kills:
        delay = min([max_delay, *(periods or [])])
        if not kill_after_progress(start(), ckpt, rng, timeout, delay, periods, poll):
            break
        done += 1
    return done
