"""Every example loads the way `etlcore run` loads it; the finite one runs to the end."""

import os
import sqlite3
from pathlib import Path

import pytest

from etlcore import StreamingContext
from etlcore.cli.loader import load_target
from etlcore.clock import ManualClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["wordcount_socket.py", "wordcount_directory.py",
                                  "hashtags_window.py", "hashtags.yaml", "fraud_online.py",
                                  "user_state.yaml"])
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


RUNNERS = ["local", "processes", "spark"]
STORED = {  # example -> (sqlite file under the run folder, table)
    "wordcount_directory.py": ("etlcore-examples/wordcount_directory/counts.db", "word_counts"),
    "hashtags.yaml": ("etlcore-examples/hashtags/hashtags.db", "hashtag_counts"),
    "hashtags_window.py": ("etlcore-examples/hashtags_window/hashtags.db", "hashtag_counts"),
}


def _run_example(name: str, runner: str, folder: Path, master: str | None) -> list[tuple]:
    from etlcore.runners import override_runner

    folder.mkdir()
    cwd = Path.cwd()
    os.chdir(folder)
    override_runner(runner, 2 if runner != "local" else None, master)
    try:
        ctx = load_target(EXAMPLES / name)
        ctx.clock = ManualClock(1_700_000_000.0)
        if name == "wordcount_directory.py":
            ctx.run(until_idle=True)
        else:
            ctx.run(batches=12)
    finally:
        override_runner(None)
        os.chdir(cwd)
    db, table = STORED[name]
    with sqlite3.connect(folder / db) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall())


@pytest.mark.services
@pytest.mark.parametrize("runner", RUNNERS[1:])
@pytest.mark.parametrize("name", list(STORED))
def test_examples_store_the_same_rows_on_every_runner(name, runner, tmp_path, request):
    master = request.getfixturevalue("spark_master").url if runner == "spark" else None
    want = _run_example(name, "local", tmp_path / "local", None)
    assert len(want) > 5
    assert _run_example(name, runner, tmp_path / runner, master) == want


def _clicks_per_user(batches: int) -> dict[str, int]:
    """Brute force: the example's generator read on its own, clicks counted per user."""
    import yaml

    source = yaml.safe_load((EXAMPLES / "user_state.yaml").read_text())["source"]
    ctx = StreamingContext(1.0, clock=ManualClock(1_700_000_000.0))
    counts: dict[str, int] = {}

    def count(batch_id: int, records: list) -> None:
        for r in records:
            counts[r["user_id"]] = counts.get(r["user_id"], 0) + 1

    ctx.source(source["type"], **source["config"]).foreach_batch(count)
    ctx.run(batches=batches)
    return counts


def test_user_state_starts_from_yesterdays_totals_and_resumes_from_its_checkpoint(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yesterday = {u: int(n) for u, n in (line.split(",") for line in (
        EXAMPLES / "data" / "user_totals.csv").read_text().split()[1:])}
    db = tmp_path / "etlcore-examples" / "user_state" / "users.db"

    def stored() -> dict[str, int]:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("SELECT user_id, events FROM user_events").fetchall())

    def expected(batches: int) -> dict[str, int]:
        totals = dict(yesterday)
        for user, n in _clicks_per_user(batches).items():
            totals[user] = totals.get(user, 0) + n
        return totals

    for batches, total in ((4, 4), (3, 7)):  # the second run resumes from the checkpoint:
        ctx = load_target(EXAMPLES / "user_state.yaml")  # the file's totals are not added again
        ctx.clock = ManualClock(1_700_000_000.0)
        ctx.run(batches=batches)
        assert stored() == expected(total)
    assert stored()["u9999"] == 5  # a user with no clicks keeps yesterday's total
