"""``etlcore demo --ui``, run as a user runs it: the page shows what the demo stores."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from dashboard_testlib import fetch, panel


def test_demo_ui_serves_the_trending_hashtags(tmp_path: Path):
    cmd = [sys.executable, "-m", "etlcore.cli.main", "demo", "--ui", "--dashboard-port", "0",
           "--duration", "120", "--out", "out"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        for line in proc.stdout:  # type: ignore[union-attr]
            if "dashboard at " in line:
                url = line.split("dashboard at ", 1)[1].strip()
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        bar: dict = {}
        deadline = time.monotonic() + 90
        while not bar.get("keys") and time.monotonic() < deadline:
            try:
                status, body, _ = fetch(url + "api/state")
            except OSError:  # refused until the job opened its sinks
                status, body = 0, b""
            if status == 200 and b'"demo/dashboard"' in body:  # the panel is registered
                bar = panel(json.loads(body), "demo/dashboard")
            time.sleep(0.2)
        assert bar.get("keys"), "the bar panel got no hashtags in 90 s"
    finally:
        proc.send_signal(signal.SIGINT)  # a graceful stop: the batch in progress commits
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with sqlite3.connect(tmp_path / "out" / "demo.db") as conn:
        rows = conn.execute("SELECT tag, count FROM hashtag_counts WHERE window_end = ? "
                            "ORDER BY count DESC, tag LIMIT 10", (bar["time"][:19],)).fetchall()
    assert list(zip(bar["keys"], bar["values"], strict=True)) == [(t, float(n)) for t, n in rows]
    assert (tmp_path / "out" / "checkpoint-ui" / "sinks" / "dashboard" / "panel.json").is_file()


def test_demo_ui_needs_the_generator_source(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "etlcore.cli.main", "demo", "--ui",
                             "--source", "twitter-standin", "--batches", "1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "'--ui'" in result.stderr and "generator" in result.stderr
