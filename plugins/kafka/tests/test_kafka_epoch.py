"""The kafka sink pairs batch ids with the checkpoint's sealed epoch (no broker needed).

Its commit markers carry ``(epoch, batch id)``: an epoch read wrong would make
a restarted job commit replayed batches again, so a damaged one is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from etlcore.errors import CheckpointError
from etlcore.plugin.epoch import EPOCH_FILE, checkpoint_epoch
from etlcore.sink import SinkContext

from etlcore_kafka.sink import sink_epoch


def test_a_new_checkpoint_uses_the_shared_epoch(tmp_path: Path) -> None:
    ctx = SinkContext("out", "job", tmp_path)
    assert sink_epoch(ctx) == checkpoint_epoch(tmp_path)
    assert (tmp_path / EPOCH_FILE).exists()
    assert not (tmp_path / "sinks" / "out" / "kafka-epoch").exists()


def test_an_older_checkpoint_keeps_its_own_epoch(tmp_path: Path) -> None:
    """Markers written before ctx.epoch existed still match: replays stay skipped."""
    legacy = tmp_path / "sinks" / "out" / "kafka-epoch"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("ab" * 16)
    assert sink_epoch(SinkContext("out", "job", tmp_path)) == "ab" * 16


@pytest.mark.parametrize("content", ["", "not-an-epoch", "ab" * 15, "AB" * 16 + "x"])
def test_a_damaged_older_epoch_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    legacy = tmp_path / "sinks" / "out" / "kafka-epoch"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(content)
    with pytest.raises(CheckpointError, match=f"corrupt checkpoint file {legacy}: "):
        sink_epoch(SinkContext("out", "job", tmp_path))


def test_a_damaged_shared_epoch_is_refused(tmp_path: Path) -> None:
    (tmp_path / EPOCH_FILE).write_text('{"epoch": "ab"}')
    with pytest.raises(CheckpointError, match="no checksum"):
        sink_epoch(SinkContext("out", "job", tmp_path))
