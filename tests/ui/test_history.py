"""A finished job's history, read back from its checkpoint (``etlcore ui --checkpoint``)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.request

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import CheckpointError
from etlcore.ui.history import load_history
from tests.cli.conftest import cli_env, etlcore_cmd

from . import jobs


@pytest.fixture
def checkpoint(tmp_path):
    """The checkpoint of a job that ran 4 batches with its UI on; and its metrics."""
    ckpt = tmp_path / "ckpt"
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="hist", ui={"port": 0},
                           checkpoint_interval=2)
    jobs.build(ctx, jobs.lines(4), "hist")
    try:
        metrics = ctx.run(batches=4)
    finally:
        MemorySink.clear("hist")
    return ckpt, list(metrics.batches)


def test_history_from_the_event_log_has_every_batch_in_full(checkpoint):
    ckpt, ran = checkpoint
    store = load_history(ckpt)
    assert store.job["name"] == "hist" and store.job["source"] == "event log"
    assert not store.live
    assert [r["batch_id"] for r in store.summaries()] == [0, 1, 2, 3]
    for b in ran:
        shown = store.batch(b.batch_id)
        assert shown == json.loads(json.dumps(b.to_dict()))


def test_without_the_event_log_the_commit_log_still_gives_batches(checkpoint):
    ckpt, ran = checkpoint
    shutil.rmtree(ckpt / "ui")
    store = load_history(ckpt)
    assert store.job["source"] == "commit log"
    kept = store.summaries()  # batches before the last state snapshot are pruned
    assert kept, "the commit log keeps the batches after the last snapshot"
    by_id = {b.batch_id: b for b in ran}
    for row in kept:
        assert row["records_in"] == by_id[row["batch_id"]].records_in
        assert store.batch(row["batch_id"])["plan"] == by_id[row["batch_id"]].plan


def test_a_directory_that_is_no_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not an etlcore checkpoint"):
        load_history(tmp_path)


def test_etlcore_ui_serves_the_history_until_interrupted(checkpoint):
    ckpt, ran = checkpoint
    proc = subprocess.Popen(etlcore_cmd("ui", "--checkpoint", str(ckpt), "--ui-port", "0"),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "4 batches of job 'hist'" in line, line + proc.stderr.read()
        url = line.split(" on ")[1].split(",")[0]
        with urllib.request.urlopen(url + "api/batches", timeout=30) as r:
            rows = json.loads(r.read())
        assert [r["records_in"] for r in rows] == [b.records_in for b in ran]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_etlcore_ui_on_a_missing_checkpoint_is_one_line(tmp_path):
    result = subprocess.run(etlcore_cmd("ui", "--checkpoint", str(tmp_path / "nope")),
                            env=cli_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "no metadata.json" in result.stderr
    assert "Traceback" not in result.stderr
