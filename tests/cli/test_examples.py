"""Every example loads the way `etlcore run` loads it; the finite one runs to the end."""

import sqlite3
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.cli.loader import load_target
from etlcore.clock import ManualClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["wordcount_socket.py", "wordcount_directory.py",
                                  "hashtags_window.py", "hashtags.yaml"])
def test_example_loads_with_a_how_to_run_docstring(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert isinstance(load_target(EXAMPLES / name), StreamingContext)
    head = (EXAMPLES / name).read_text().splitlines()[0]
    assert f"etlcore run examples/{name}" in head


def test_wordcount_directory_counts_every_word(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = load_target(EXAMPLES / "wordcount_directory.py")
    ctx.clock = ManualClock()
    ctx.run(until_idle=True)
    words = sum(len(p.read_text().split()) for p in (EXAMPLES / "data" / "words").glob("*.txt"))
    db = tmp_path / "etlcore-examples" / "wordcount_directory" / "counts.db"
    with sqlite3.connect(db) as conn:
        total, alice = conn.execute(
            "SELECT SUM(count), SUM(CASE WHEN word = 'alice' THEN count END) FROM word_counts"
        ).fetchone()
    assert total == words and alice == 2
