"""A checkpoint resumes only the job that wrote it; a changed job is refused with the changes.

Before, the fingerprint held source and stateful operator keys only, so a job
whose window length, reduce function or filters changed resumed the old
checkpoint and silently gave different output, and a job pointed at another
input directory silently skipped every file whose name was in the manifest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import CheckpointError

from .conftest import drop

ROOT = Path(__file__).resolve().parents[2]
BATCHES = [[("a", 1)], [("a", 2), ("b", 1)], [("b", 5)], [("a", 1)], [("c", 9)], [("a", 4)]]


def windowed(ckpt: Path, sink: str, length: int = 3, func: str = "sum", keep=None,
             **options) -> StreamingContext:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="win", checkpoint_interval=2,
                           **options)
    s = ctx.queue_stream(BATCHES)
    if keep is not None:
        s = s.filter(keep)
    s.reduce_by_key_and_window(func, None, length=length).sink("memory", name=sink)
    return ctx


def ctx_error(ctx: StreamingContext) -> str:
    with pytest.raises(CheckpointError) as err:
        ctx.run(batches=1)
    return str(err.value)


def refusal(ctx: StreamingContext) -> str:
    message = ctx_error(ctx)
    assert "was written by a different version of job 'win'" in message
    return message


@pytest.fixture
def ckpt(tmp_path, sink_name):
    windowed(tmp_path / "ckpt", sink_name).run(batches=3)
    return tmp_path / "ckpt"


def test_a_longer_window_is_refused(ckpt, sink_name):
    message = refusal(windowed(ckpt, sink_name, length=5))
    assert "operator 'reduce_by_key_and_window-1': length 3 -> 5" in message
    assert "--allow-changed-job" in message


def test_another_reduce_function_is_refused(ckpt, sink_name):
    message = refusal(windowed(ckpt, sink_name, func="max"))
    assert "operator 'reduce_by_key_and_window-1': reducer \"sum\" -> \"max\"" in message


def test_an_added_filter_is_refused(ckpt, sink_name):
    message = refusal(windowed(ckpt, sink_name, keep=lambda kv: kv[0] != "b"))
    assert "operator 'filter-1' was added" in message
    assert ("operator 'reduce_by_key_and_window-1': inputs [\"queue-1\"] -> [\"filter-1\"]"
            in message)


def test_a_filter_with_other_code_is_refused(tmp_path, sink_name):
    windowed(tmp_path, sink_name, keep=lambda kv: kv[1] > 0).run(batches=2)
    message = refusal(windowed(tmp_path, sink_name, keep=lambda kv: kv[1] > 1))
    assert "operator 'filter-1': the code of " in message
    assert ("test_fingerprint:test_a_filter_with_other_code_is_refused.<locals>.<lambda>, "
            "or what it closes over, changed") in message


def test_the_same_job_resumes(ckpt, sink_name):
    windowed(ckpt, sink_name).run(batches=3)
    assert sorted(MemorySink.batches(sink_name)) == [0, 1, 2, 3, 4, 5]


def test_another_input_directory_is_refused(tmp_path, sink_name):
    def job(inbox: Path) -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="win")
        ctx.source("directory", path=str(inbox)).sink("memory", name=sink_name)
        return ctx

    drop(tmp_path / "a", "same-name.txt", b"from a\n")
    drop(tmp_path / "b", "same-name.txt", b"from b\n")
    job(tmp_path / "a").run(until_idle=True)
    message = ctx_error(job(tmp_path / "b"))
    assert (f"operator 'directory-1': path \"{tmp_path / 'a'}\" -> \"{tmp_path / 'b'}\""
            in message)


def test_allow_changed_job_keeps_positions_and_unchanged_state(tmp_path, sink_name):
    """The changed window starts empty; the unchanged one keeps its state; no input twice."""

    def job(length: int, **options) -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path, clock="manual", name="win", checkpoint_interval=1,
                               **options)
        s = ctx.queue_stream(BATCHES)
        s.reduce_by_key_and_window("sum", None, length=length).sink("memory", name=sink_name)
        s.reduce_by_key_and_window("sum", None, length=10).sink("memory", name=sink_name + "-all")
        return ctx

    job(3).run(batches=3)
    job(2, allow_changed_job=True).run(batches=3)
    changed = MemorySink.batches(sink_name)
    assert dict(changed[3]) == {"a": 1}  # batch 2 (b: 5) is not in the new window's state
    assert dict(changed[4]) == {"a": 1, "c": 9}
    everything = MemorySink.batches(sink_name + "-all")
    assert dict(everything[5]) == {"a": 8, "b": 6, "c": 9}  # every batch counted once
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["changes"][0]["changes"] == [
        "operator 'reduce_by_key_and_window-1': length 3 -> 2"]
    job(2).run(batches=0)  # the checkpoint now belongs to the changed job


JOB_YAML = """\
name: cli-changed
checkpoint: ckpt
source: {type: queue, config: {batches: [[1, 2], [3]]}}
transform:
  - map: {function: "jobfns:clean"}
store:
  - sink: console
"""


def run_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "etlcore.cli.main", "run", "job.yaml",
                           "--until-idle", *args], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=60)


def test_cli_refuses_an_edited_function_unless_allowed(tmp_path):
    (tmp_path / "job.yaml").write_text(JOB_YAML)
    (tmp_path / "jobfns.py").write_text("def clean(x):\n    return x + 1\n")
    assert run_cli(tmp_path).returncode == 0
    (tmp_path / "jobfns.py").write_text("def clean(x):\n    return x + 2\n")
    refused = run_cli(tmp_path)
    assert refused.returncode == 2
    assert "was written by a different version of job 'cli-changed'" in refused.stderr
    assert ("operator 'map-1': the code of jobfns:clean, or what it closes over, changed"
            in refused.stderr)
    allowed = run_cli(tmp_path, "--allow-changed-job")
    assert allowed.returncode == 0, allowed.stderr
    assert run_cli(tmp_path).returncode == 0  # the checkpoint follows the changed job


def test_delivery_settings_are_not_part_of_a_source_identity(tmp_path, sink_name):
    """A batch bound or an ack does not make another stream; another format does."""

    def job(**config) -> StreamingContext:
        ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="win")
        ctx.source("directory", path=str(tmp_path / "in"), **config).sink("memory", name=sink_name)
        return ctx

    drop(tmp_path / "in", "a.txt", b"a\n")
    job().run(until_idle=True)
    job(max_files_per_batch=5).run(until_idle=True)  # resumes
    assert "format" in ctx_error(job(format="json"))  # but reading it as JSON is another job
    assert MemorySink.results(sink_name) == ["a"]


def test_a_source_identity_is_its_config_without_secrets_and_delivery_settings():
    from dataclasses import dataclass

    from etlcore.config import option, secret
    from etlcore.connectors.queue import QueueSource, QueueSourceConfig

    @dataclass
    class TopicConfig:
        topic: str = option("clicks")
        timeout: float = option(10.0, identity=False)
        password: str | None = secret("hunter2")

    class TopicSource(QueueSource):
        def __init__(self) -> None:
            super().__init__(QueueSourceConfig())
            self.config = TopicConfig()

    assert TopicSource().identity() == {"topic": "clicks"}
