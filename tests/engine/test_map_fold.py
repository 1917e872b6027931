"""A narrow chain folded straight into the map-side combine of the keyed operator after it.

``flat_map(f).count_by_value()`` (or ``.map(...).reduce_by_key(...)``) counts each record
of the chain as it is made instead of building a list of the partition's records first
(``WideNode.map_fold``). What a job computes, counts in its metrics and reports on an
error must not change; a chain whose output something else reads too is not folded.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.metrics import BatchMetrics
from etlcore.runners.processes import ProcessRunner

LINES = [["a b c a", "b", ""], ["c c", "d e a"], [], ["a"]]


def _runner(name: str) -> Any:
    return "local" if name == "local" else ProcessRunner(workers=2)


def _word_counts(runner: Any, parallelism: int, fn: Any = str.split,
                 **flat_map: Any) -> tuple[dict[int, Counter[str]], list[BatchMetrics], Any]:
    """Per batch, the words counted by ``flat_map(fn).count_by_value()``; the metrics; ctx."""
    ctx = StreamingContext(1.0, clock="manual", name="fold", runner=runner,
                           parallelism=parallelism)
    got: dict[int, Counter[str]] = {}
    metrics: list[BatchMetrics] = []
    ctx.add_listener(metrics.append)
    (ctx.queue_stream(LINES).flat_map(fn, **flat_map).count_by_value()
        .foreach_batch(lambda b, rows: got.setdefault(b, Counter()).update(dict(rows))))
    ctx.run(batches=len(LINES))
    return got, metrics, ctx


@pytest.mark.parametrize("runner", ["local", "processes"])
@pytest.mark.parametrize("parallelism", [1, 2])
def test_counts_and_operator_metrics_are_those_of_the_words(runner: str,
                                                            parallelism: int) -> None:
    got, metrics, _ = _word_counts(_runner(runner), parallelism)
    want = {b: Counter(w for line in batch for w in line.split())
            for b, batch in enumerate(LINES) if batch}
    assert {b: c for b, c in got.items() if c} == want
    flat_map = next(k for k in metrics[0].records_by_operator if k.startswith("flat_map"))
    # the chain's records are counted by the fold as it reads them: one per word
    assert [m.records_by_operator.get(flat_map, 0) for m in metrics] == [
        sum(c.values()) for c in (want.get(b, Counter()) for b in range(len(LINES)))]


def test_a_partitions_records_are_never_all_alive_at_once() -> None:
    """The point of folding: each record of the chain is freed once it is counted."""
    alive = [0, 0]  # now, most

    class Word(str):
        def __new__(cls, text: str) -> Word:
            alive[0] += 1
            alive[1] = max(alive[1], alive[0])
            return super().__new__(cls, text)

        def __del__(self) -> None:
            alive[0] -= 1

    lines = [" ".join(f"w{(i + j) % 5}" for j in range(20)) for i in range(200)]
    ctx = StreamingContext(1.0, clock="manual", name="fold-alive", parallelism=1)
    totals: Counter[str] = Counter()
    (ctx.queue_stream([lines]).flat_map(lambda line: map(Word, line.split())).count_by_value()
        .foreach_batch(lambda _, rows: totals.update({str(w): n for w, n in rows})))
    ctx.run(batches=1)
    assert totals == {f"w{i}": 800 for i in range(5)}
    assert alive[1] <= 30, f"{alive[1]} of 4000 words alive at once: the chain was listed"


def test_reduce_by_key_after_a_map_is_folded_too_and_agrees_with_parity() -> None:
    pairs = [[("a", 1), ("b", 2.5), ("a", 3)], [("b", 1)], []]
    results = {}
    for runner in ("local", "processes"):
        name = f"fold-rbk-{runner}"
        ctx = StreamingContext(1.0, clock="manual", name=name, runner=_runner(runner),
                               parallelism=2)
        ctx.queue_stream(pairs).map(lambda kv: (kv[0], kv[1] * 2)).reduce_by_key(
            "sum").sink("memory", name=name)
        ctx.run(batches=len(pairs))
        try:
            results[runner] = MemorySink.batches(name)
        finally:
            MemorySink.clear(name)
    assert results["local"] == results["processes"]
    assert {b: sorted(rows) for b, rows in results["local"].items()} == {
        0: [("a", 8), ("b", 5.0)], 1: [("b", 2)]}


def test_an_error_in_the_folded_chain_names_its_operator() -> None:
    def split_or_fail(line: str) -> list[str]:
        if line == "d e a":
            raise ValueError("bad line")
        return line.split()

    with pytest.raises(ValueError, match="bad line") as info:
        _word_counts("local", 1, split_or_fail)
    assert any("etlcore: in flat_map" in note for note in info.value.__notes__)


def test_failing_records_of_a_folded_chain_become_dead_letters() -> None:
    def split_or_fail(line: str) -> list[str]:
        if line == "d e a":
            raise ValueError("bad line")
        return line.split()

    got, _, ctx = _word_counts("local", 1, split_or_fail, on_error="dead_letter")
    assert got[1] == Counter({"c": 2})
    assert [(d["record"], d["reason"]) for d in ctx.dead_letters] == [
        ("d e a", "ValueError: bad line")]


def test_a_chain_read_by_another_consumer_too_is_still_whole_for_it() -> None:
    ctx = StreamingContext(1.0, clock="manual", name="fold-shared", parallelism=1)
    words = ctx.queue_stream(LINES).flat_map(str.split)
    counts: dict[int, list[Any]] = {}
    words.count_by_value().foreach_batch(lambda b, rows: counts.setdefault(b, sorted(rows)))
    words.sink("memory", name="fold-shared")
    ctx.run(batches=len(LINES))
    try:
        assert MemorySink.batches("fold-shared")[1] == ["c", "c", "d", "e", "a"]
    finally:
        MemorySink.clear("fold-shared")
    assert counts[1] == [("a", 1), ("c", 2), ("d", 1), ("e", 1)]
