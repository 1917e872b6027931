"""``etlcore run --ui`` and the YAML ``ui:`` key, as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request

from tests.cli.conftest import cli_env, etlcore_cmd

YAML_JOB = """
name: tags-ui
batch_interval: 200ms
source:
  type: generator
  config: {kind: tweets, rate: 200, format: json, bad_ratio: 0.1}
cleanse:
  - parse_json: {}
transform:
  - extract_hashtags: {field: text}
  - count_by_value: {}
store:
  - sink: console
    config: {limit: 0}
"""


def fetch(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def test_run_with_ui_prints_where_it_is_and_serves_the_running_job(tmp_path):
    (tmp_path / "job.yaml").write_text(YAML_JOB)
    env = cli_env() | {"ETLCORE_UI_TOKEN": "tok"}
    proc = subprocess.Popen(etlcore_cmd("run", "job.yaml", "--ui", "--ui-port", "0",
                                        "--duration", "120"),
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen = [proc.stderr.readline() for _ in range(1)]
        while seen[-1] and "web UI on" not in seen[-1] and len(seen) < 50:
            seen.append(proc.stderr.readline())  # a warning may come first
        line = seen[-1]
        assert "etlcore: web UI on http://127.0.0.1:" in line, seen
        assert "?token=<your token>" in line and "tok" not in line.replace("token", "")
        url = line.split(" on ")[1].split("?")[0]
        job = fetch(url + "api/job", "tok")
        assert job["job"]["name"] == "tags-ui" and job["live"]
        with urllib.request.urlopen(url + "metrics?token=tok",
                                    timeout=30) as r:
            assert b"etlcore_batches_total" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "done:" in out


def test_yaml_ui_key_with_a_typo_is_named(cli, tmp_path):
    (tmp_path / "job.yaml").write_text(YAML_JOB + "ui: {prot: 4040}\n")
    result = cli("run", "job.yaml", "--batches", "1")
    assert result.returncode == 2
    assert "config key 'ui.prot': one of the known keys" in result.stderr


def test_yaml_ui_key_serves_metrics(cli, tmp_path):
    """``ui: {port: null, metrics_port: 0}``: only /metrics, on a port the OS picks."""
    (tmp_path / "job.yaml").write_text(YAML_JOB + "ui: {port: null, metrics_port: 0}\n")
    result = cli("run", "job.yaml", "--batches", "2")
    assert result.returncode == 0, result.stderr
    assert "etlcore: metrics on http://127.0.0.1:" in result.stderr
