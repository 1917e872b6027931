"""The etlcore command, run as a subprocess: version, plugins, run, demo, errors."""

import json
import sqlite3
import textwrap

import pytest

from etlcore import __version__


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"etlcore {__version__}"


def test_plugins_json(cli):
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = json.loads(result.stdout)
    names = {(p["kind"], p["name"]) for p in plugins}
    assert {("source", "generator"), ("sink", "sqlite"), ("sink", "console")} <= names
    for p in plugins:
        assert {"name", "kind", "package", "version", "config"} <= set(p)
        for key in p["config"]:  # secrets never shown
            assert not key["secret"] or key["default"] in (None, "<redacted>")


def test_plugins_table(cli):
    result = cli("plugins")
    assert result.returncode == 0
    assert "generator" in result.stdout and "config keys" in result.stdout


YAML_JOB = """
name: tags
batch_interval: 100ms
source:
  type: generator
  config: {kind: tweets, rate: 1000, limit: 150, format: json, bad_ratio: 0.1}
cleanse:
  - parse_json: {}
transform:
  - extract_hashtags: {field: text}
  - count_by_value: {}
store:
  - sink: sqlite
    config: {path: out.db, table: tags, key: [tag], columns: [tag, n]}
"""


def test_run_yaml_until_idle(cli, tmp_path):
    (tmp_path / "job.yaml").write_text(YAML_JOB)
    result = cli("run", "job.yaml", "--until-idle")
    assert result.returncode == 0, result.stderr
    assert "batch 0 | records in " in result.stdout  # plain lines: stdout is not a TTY
    assert "done:" in result.stdout and "150 records in" in result.stdout
    with sqlite3.connect(tmp_path / "out.db") as conn:
        assert conn.execute("SELECT SUM(n) FROM tags").fetchone()[0] > 0


def test_run_python_job_with_batches(cli, tmp_path):
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        from etlcore import StreamingContext

        def build():
            ctx = StreamingContext("50ms", name="py")
            ctx.queue_stream([["a b"], ["c"], ["d"]]).flat_map(str.split).pprint()
            return ctx
    """))
    result = cli("run", "job.py", "--batches", "2")
    assert result.returncode == 0, result.stderr
    assert "done: 2 batches, 2 records in" in result.stdout
    assert "\nc\n" in result.stdout and "\nd\n" not in result.stdout


def test_run_catch_up_from_the_command_line(cli, tmp_path):
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        from etlcore import StreamingContext

        def build():  # a manual clock: always behind, so catch-up applies when on
            ctx = StreamingContext("50ms", name="py", clock="manual")
            ctx.queue_stream([["a b"], ["c"], ["d"]]).flat_map(str.split).pprint()
            return ctx
    """))
    result = cli("run", "job.py", "--until-idle", "--catch-up", "2")
    assert result.returncode == 0, result.stderr
    assert "done: 3 batches, 3 records in" in result.stdout  # 2 queued batches, 1, empty
    result = cli("run", "job.py", "--until-idle", "--catch-up", "lots")
    assert result.returncode == 2
    assert "--catch-up" in result.stderr and "Traceback" not in result.stderr


def test_demo_writes_sqlite_rows(cli, tmp_path):
    result = cli("demo", "--batches", "3", "--out", "tmp")
    assert result.returncode == 0, result.stderr
    assert "batch 2 |" in result.stdout
    with sqlite3.connect(tmp_path / "tmp" / "demo.db") as conn:
        count, = conn.execute("SELECT COUNT(*) FROM hashtag_counts").fetchone()
    assert count > 10
    assert (tmp_path / "tmp" / "checkpoint" / "commits").is_dir()


@pytest.mark.parametrize(("args", "files", "message"), [
    (["run", "missing.yaml"], {}, "missing.yaml: no such job file"),
    (["run", "job.yaml"], {"job.yaml": "name: t\nsource: {type: queue\n"}, "invalid YAML"),
    (["run", "job.yaml"], {"job.yaml": "name: t\nsource: {type: queue}\nstore: [{sink: consol}]"},
     "config key 'store[0].sink': no sink plugin named 'consol'"),
    (["run", "job.yaml"], {"job.yaml": YAML_JOB.replace("count_by_value: {}",
                                                        "window: {length: 1.05s}")},
     "config key 'transform[1].window.length'"),
    (["run", "job.py"], {"job.py": "job = undefined_name\n"}, "NameError"),
    (["run", "job.py"], {"job.py": "x = 1\n"}, "defines neither `job`"),
    (["run", "job.txt"], {"job.txt": ""}, "expected a .yaml, .yml or .py job file"),
])
def test_user_mistakes_are_one_line_and_exit_2(cli, tmp_path, args, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(cli):
    result = cli("run", "missing.yaml", "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_bad_stop_option_is_a_usage_error(cli):
    result = cli("demo", "--duration", "soon")
    assert result.returncode == 2
    assert "--duration" in result.stderr


def test_unbuilt_kernels_are_one_clear_line(tmp_path):
    import subprocess

    from tests.cli.conftest import cli_env, etlcore_cmd

    env = cli_env()
    # the CI guard refuses the pure-Python switch: the same path as a missing build
    env.update(ETLCORE_PURE_PYTHON="1", ETLCORE_REQUIRE_COMPILED="1")
    proc = subprocess.run(etlcore_cmd("demo", "--batches", "1", "--out", str(tmp_path)),
                          env=env, text=True, capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:")
    assert "C kernels" in proc.stderr
    assert "Traceback" not in proc.stderr
