"""Signals: the first stops gracefully after a committed batch, the second exits at once."""

import signal
import sqlite3
import subprocess
import textwrap
import time

from tests.cli.conftest import cli_env, etlcore_cmd


def start(tmp_path, *args):
    return subprocess.Popen(etlcore_cmd(*args), cwd=tmp_path, env=cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_line(proc, prefix, timeout=20.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"no line starting {prefix!r}; saw {seen!r}")


def ids(folder):
    return sorted(int(p.stem) for p in folder.glob("*.json"))


def test_sigterm_during_demo_commits_the_last_batch_and_exits_0(tmp_path):
    proc = start(tmp_path, "demo", "--out", "out")
    try:
        wait_for_line(proc, "batch 1 |")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after the batch in progress" in err
    assert "done:" in out
    ckpt = tmp_path / "out" / "checkpoint"
    plans, commits = ids(ckpt / "plans"), ids(ckpt / "commits")
    assert commits and plans[-1] == commits[-1]  # nothing planned and left uncommitted
    with sqlite3.connect(tmp_path / "out" / "demo.db") as conn:
        stored = conn.execute("SELECT MAX(batch_id) FROM _etlcore_commits").fetchone()[0]
    assert stored == commits[-1]


def test_second_signal_exits_at_once_with_130(tmp_path):
    (tmp_path / "slow.py").write_text(textwrap.dedent("""
        import sys, time
        from etlcore import StreamingContext

        def slow(batch_id, records):
            print("in batch", batch_id, flush=True)
            time.sleep(30)

        def build():
            ctx = StreamingContext("50ms", name="slow")
            ctx.queue_stream([[1], [2]]).foreach_batch(slow)
            return ctx
    """))
    proc = start(tmp_path, "run", "slow.py")
    try:
        wait_for_line(proc, "in batch 0")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130
