"""The SQL examples: they load as `etlcore run` loads them, and their answers are checked."""

from __future__ import annotations

import csv
import importlib.util
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.cli.loader import load_target
from etlcore.clock import ManualClock
from etlcore.connectors.queue import MemorySink

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["hashtags_sql.py", "enrich_sql.py"])
def test_example_loads_with_a_how_to_run_docstring(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert isinstance(load_target(EXAMPLES / name), StreamingContext)
    assert f"etlcore run examples/{name}" in (EXAMPLES / name).read_text().splitlines()[0]


def test_trending_hashtags_equal_a_count_of_each_window():
    hashtags = example("hashtags_sql")
    words = ["#AI", "#data", "#nba", "#Cloud", "#py", "#go", "#rust", "plain"]
    batches = [[{"id": b * 100 + i, "text": " ".join(words[(b * 3 + i * k) % 8]
                                                      for k in range(1, 4))}
                for i in range(b % 4 * 5)] for b in range(8)]
    ctx = StreamingContext(1.0, clock="manual")
    name = "sql-example-trending"
    MemorySink.clear(name)
    hashtags.trending(ctx.queue_stream(batches), "3s", "1s").sink("memory", name=name)
    ctx.run(batches=8)
    got = MemorySink.batches(name)
    MemorySink.clear(name)
    for b in range(8):
        window = Counter("#" + t.lower() for batch in batches[max(0, b - 2):b + 1]
                         for r in batch for t in re.findall(r"#(\w+)", r["text"]))
        want = sorted(window.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert [(r["tag"], r["count"]) for r in got.get(b, [])] == want


def test_the_trending_example_stores_the_top_five_of_every_window(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = load_target(EXAMPLES / "hashtags_sql.py")
    ctx.clock = ManualClock(1_700_000_000.0)
    ctx.run(batches=6)
    db = tmp_path / "etlcore-examples" / "hashtags_sql" / "hashtags.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT window_end, tag, count FROM trending").fetchall()
    windows = Counter(r[0] for r in rows)
    assert len(windows) == 3 and set(windows.values()) == {5}  # slides at batches 1, 3, 5
    assert all(tag.startswith("#") and n > 0 for _, tag, n in rows)
    assert any("JSON" in d["reason"] or "Expecting" in d["reason"] for d in ctx.dead_letters)


def write_users(path: Path, tier: str) -> dict[str, str]:
    users = {f"u{u:04d}": tier if u % 2 else "free" for u in range(0, 2000)}
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["user_id", "tier", "country"])
        out.writerows((u, t, "de") for u, t in users.items())
    return users


def test_enrichment_joins_the_table_and_sees_it_change_after_the_reload(tmp_path):
    enrich_sql = example("enrich_sql")
    users_csv = tmp_path / "users.csv"
    before = write_users(users_csv, "plus")
    clicks = [[{"user_id": f"u{(b * 37 + i * 11) % 2100:04d}", "url": f"/p/{i}",
                "event": ("view", "click", "purchase")[i % 3], "ts": b + i / 100}
               for i in range(30)] for b in range(6)]
    ctx = StreamingContext(1.0, clock="manual")
    ctx.register_table("users", users_csv, reload_every=3)
    name = "sql-example-enrich"
    MemorySink.clear(name)
    enrich_sql.enrich(ctx.queue_stream(clicks)).sink("memory", name=name)
    after: dict[str, str] = {}
    ctx.add_listener(lambda m: after.update(write_users(users_csv, "pro"))
                     if m.batch_id == 1 else None)
    ctx.run(batches=6)
    got = MemorySink.batches(name)
    MemorySink.clear(name)
    for b, batch in enumerate(clicks):
        table = before if b < 3 else after  # read at batch 0, re-read at batch 3
        want = [{**c, "tier": table.get(c["user_id"], "unknown"),
                 "country": "de" if c["user_id"] in table else "unknown"}
                for c in batch if c["event"] != "view"]
        key = lambda r: (r["ts"], r["url"])  # noqa: E731
        assert sorted(got[b], key=key) == sorted(want, key=key)
    assert any(r["tier"] == "pro" for r in got[5]) and not any(
        r["tier"] == "pro" for r in got[2])


def test_the_enrichment_example_stores_enriched_clicks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = load_target(EXAMPLES / "enrich_sql.py")
    ctx.clock = ManualClock(1_700_000_000.0)
    ctx.run(batches=3)
    with (EXAMPLES / "data" / "users.csv").open() as f:
        tiers = {r["user_id"]: r["tier"] for r in csv.DictReader(f)}
    db = tmp_path / "etlcore-examples" / "enrich_sql" / "clicks.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT user_id, event, tier FROM enriched_clicks").fetchall()
    assert len(rows) > 50 and {e for _, e, _ in rows} <= {"click", "purchase"}
    assert all(tier == tiers.get(user, "unknown") for user, _, tier in rows)
    assert any(tier != "unknown" for _, _, tier in rows)
