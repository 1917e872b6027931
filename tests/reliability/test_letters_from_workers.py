"""Dead letters from worker processes: kept packed on the driver, yet the same everywhere.

The processes runner leaves each task's letters one marshal blob until something
reads them (:mod:`etlcore.letters`). Whatever reads them (``ctx.dead_letters``,
the dead-letter files under a checkpoint, the batch metrics and the web UI's
store) must see what the local runner gives: the same letters, in the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.runners.processes import ProcessRunner
from etlcore.ui.store import BatchStore, detail

T0 = 1_700_000_000.0
LETTER_FIELDS = ("batch_id", "records_in", "dead_letters", "dead_letter_reasons",
                 "dead_letter_samples")


def _checked(r: dict[str, Any]) -> dict[str, Any]:
    """Refuses two kinds of click (two reasons), so every task of every batch has letters."""
    if r["event"] == "view":
        raise ValueError("views are not wanted")
    if r["user_id"].endswith("5"):
        raise KeyError("user ids ending in 5 are reserved")
    return r


def _clicks(ctx: StreamingContext) -> Any:
    return ctx.source("generator", name="clicks", kind="clicks", seed=3, rate=1000,
                      partitions=3, limit=3000, start_time=T0)


def _refused_in_input_order() -> list[tuple[int, Any, str]]:
    """What the letters must be, worked out without the engine's letters: the input
    (partition by partition, as every runner hands a batch over) through ``_checked``."""
    ctx = StreamingContext(1.0, clock="manual", name="letters-input", parallelism=3,
                           catch_up=False)
    seen: list[tuple[int, Any]] = []
    _clicks(ctx).foreach_batch(lambda b, rows: seen.extend((b, r) for r in rows))
    ctx.run(batches=3)
    out = []
    for batch_id, record in seen:
        try:
            _checked(record)
        except (ValueError, KeyError) as err:
            out.append((batch_id, record, f"{type(err).__name__}: {err}"))
    return out


def _run(runner: Any, name: str, ckpt: Path | None) -> tuple[Any, ...]:
    ctx = StreamingContext(1.0, ckpt, clock="manual", name=name, runner=runner,
                           parallelism=3, catch_up=False)
    store = BatchStore({"name": name})
    ctx.add_listener(store)
    (_clicks(ctx)
        .map(_checked, on_error="dead_letter")
        .sink("memory", name=name))
    try:
        ctx.run(batches=3)
    finally:
        MemorySink.clear(name)
    letters = [(d["batch_id"], d["record"], d["reason"], d["stage"], d.get("origin"))
               for d in ctx.dead_letters]
    batches = [{k: row[k] for k in LETTER_FIELDS} for row in map(detail, ctx.metrics.batches)]
    files = {} if ckpt is None else {
        p.name: p.read_text() for p in sorted((ckpt / "dead-letter").glob("*.jsonl"))}
    return letters, batches, store.overview()["totals"], files


@pytest.mark.parametrize("checkpoint", [False, True], ids=["in-memory", "checkpoint"])
def test_letters_metrics_and_files_match_the_local_runner(tmp_path, checkpoint):
    local = _run("local", "letters-local", tmp_path / "local" if checkpoint else None)
    procs = _run(ProcessRunner(workers=2), "letters-procs",
                 tmp_path / "procs" if checkpoint else None)
    letters, batches, totals, files = procs
    want = _refused_in_input_order()
    assert [t[:3] for t in letters] == want
    assert totals["dead_letters"] == len(want) == sum(b["dead_letters"] for b in batches)
    assert [s["reason"] for s in batches[0]["dead_letter_samples"]] == [
        reason for _, _, reason in want[:len(batches[0]["dead_letter_samples"])]]
    assert all(len(b["dead_letter_reasons"]) == 2 and b["dead_letters"] > 100 for b in batches)
    assert procs == local
    assert bool(files) == checkpoint
