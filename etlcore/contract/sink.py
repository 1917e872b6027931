"""The sink contract: what every sink must do when batches are replayed.

Subclass :class:`SinkContract` in a test module (the class name must start
with ``Test``) and give ``config``, ``sample_records`` and ``stored``; the
tests drive the sink through the split protocol as the engine does (writers
shipped by pickle and cloudpickle, commit messages pickled back to the
driver, a restarted driver replaying the last batch) and compare what the
target holds with a clean run's.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, ClassVar

import pytest

from etlcore.batch import BatchInfo
from etlcore.contract.base import ConnectorContract
from etlcore.contract.drive import Target, canon, multiset, roundtrip, split
from etlcore.sink import Sink, SinkContext, WriterContext, WriteResult


class SinkContract(ConnectorContract):
    """Contract tests for a sink; see :mod:`etlcore.contract`.

    ``delivery``: ``"exactly-once"`` (a replay converges to a clean run's
    result) or ``"at-least-once"`` (nothing is lost; a replay may store again).
    ``bad_records_policy``: ``"reject"`` (``bad_records()`` come back as
    :class:`~etlcore.sink.WriteResult` rejections and reach the dead letters)
    or ``"fail"`` (the batch fails naming the record, and leaves nothing).
    """

    kind: ClassVar[str] = "sink"
    delivery: ClassVar[str] = "exactly-once"
    bad_records_policy: ClassVar[str] = "reject"
    partitions: ClassVar[int] = 2

    # -- what a subclass gives ---------------------------------------------------------
    def sample_records(self) -> list[Any]:
        """Records the sink can store; split into two batches by ``sample_batches``."""
        raise NotImplementedError(f"{type(self).__name__} must define sample_records()")

    def sample_batches(self) -> list[list[Any]]:
        records = self.sample_records()
        half = (len(records) + 1) // 2
        return [records[:half], records[half:]]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        """Everything the target holds, read back from it (the sink may be closed by now).

        Called after each phase of a test, and always before another target is
        written; for an output stream (stdout, a log), keep what was read per target.
        """
        raise NotImplementedError(f"{type(self).__name__} must define stored(sink, target)")

    def bad_records(self) -> list[Any] | None:
        """Records this sink cannot store (None: it stores anything it is given)."""
        return None

    # -- driving the protocol --------------------------------------------------------------
    def open_sink(self, target: Target) -> Sink:
        sink = self.closing(self.build(target.config))
        sink.open(SinkContext(self.name, self.job_name, target.checkpoint))
        return sink

    def restart(self, sink: Sink, target: Target) -> Sink:
        """The driver starts again on the same checkpoint: a new sink object, opened."""
        with contextlib.suppress(Exception):
            sink.close()
        return self.open_sink(target)

    def write(self, sink: Sink, target: Target, batch: BatchInfo, records: list[Any],
              via: str | None = None, partitions: int | None = None,
              ) -> tuple[list[Any], list[tuple[Any, str]]]:
        """One writer, shipped ``via`` a pickler, writes every partition; messages come back pickled."""
        writer = sink.writer()
        if via is not None:
            writer = roundtrip(writer, via)
        writer.open(WriterContext(self.name, self.job_name, str(target.checkpoint),
                                  worker=f"contract-{via or 'driver'}"))
        messages, rejected = [], []
        try:
            for p, part in enumerate(split(list(records), partitions or self.partitions)):
                result = writer.write(batch, p, part)
                if isinstance(result, WriteResult):
                    rejected.extend(result.rejected)
                    result = result.message
                messages.append(result)
        finally:
            writer.close()
        return roundtrip(messages), rejected

    def run(self, sink: Sink, target: Target, batches: list[list[Any]], first: int = 0,
            via: str | None = None, partitions: int | None = None, replay: bool = False) -> None:
        for i, records in enumerate(batches, first):
            batch = BatchInfo(i, float(i + 1), replay=replay)
            messages, _ = self.write(sink, target, batch, records, via, partitions)
            sink.commit(batch, messages)

    def clean_run(self, batches: list[list[Any]] | None = None,
                  partitions: int | None = None) -> list[Any]:
        """What a run without failures stores, each batch written and committed once."""
        target = self.new_target()
        sink = self.open_sink(target)
        self.run(sink, target, self.sample_batches() if batches is None else batches,
                 partitions=partitions)
        sink.close()
        return self.stored(sink, target)

    def assert_same(self, clean: list[Any], got: list[Any], what: str) -> None:
        assert multiset(got) == multiset(clean), (
            f"{what}: the target holds {sorted(map(canon, got))}, a clean run "
            f"{sorted(map(canon, clean))}")

    def assert_converged(self, clean: list[Any], got: list[Any], what: str) -> None:
        if self.delivery == "exactly-once":
            self.assert_same(clean, got, what)
        else:
            lost = multiset(clean) - multiset(got)
            assert not lost, f"{what}: lost {sorted(lost)}"

    def visible_before_commit(self, sink: Sink) -> bool:
        return bool(getattr(sink, "visible_before_commit", False))

    # -- the contract ------------------------------------------------------------------------
    @pytest.mark.parametrize("via", ["pickle", "cloudpickle"])
    def test_writer_ships_to_workers(self, via: str) -> None:
        """Writers pickled as runners ship them store what unshipped ones store."""
        clean = self.clean_run()
        target = self.new_target()
        sink = self.open_sink(target)
        self.run(sink, target, self.sample_batches(), via=via)
        self.assert_same(clean, self.stored(sink, target), f"writers shipped by {via}")

    def test_replayed_batch_converges(self) -> None:
        """The driver restarts and runs the last batch again, writers and commit."""
        batches = self.sample_batches()
        clean = self.clean_run(batches)
        target = self.new_target()
        sink = self.open_sink(target)
        self.run(sink, target, batches)
        sink = self.restart(sink, target)
        self.run(sink, target, batches[-1:], first=len(batches) - 1, replay=True)
        self.assert_converged(clean, self.stored(sink, target), "after a replay")

    def test_crash_between_write_and_commit(self) -> None:
        """Writers ran, commit never did; the restarted driver replays the batch."""
        batches = self.sample_batches()
        clean = self.clean_run(batches)
        target = self.new_target()
        sink = self.open_sink(target)
        last = len(batches) - 1
        self.run(sink, target, batches[:-1])
        self.write(sink, target, BatchInfo(last, float(last + 1)), batches[-1])
        sink = self.open_sink(target)  # the old driver died: no close, no commit
        self.run(sink, target, batches[-1:], first=last, replay=True)
        self.assert_converged(clean, self.stored(sink, target), "after a crash before commit")

    def test_repeated_commit_stores_once(self) -> None:
        """The same commit twice (a driver that died after committing, before logging it)."""
        batches = self.sample_batches()
        clean = self.clean_run(batches)
        target = self.new_target()
        sink = self.open_sink(target)
        for i, records in enumerate(batches):
            batch = BatchInfo(i, float(i + 1))
            messages, _ = self.write(sink, target, batch, records)
            sink.commit(batch, messages)
            sink.commit(batch, messages)
        self.assert_converged(clean, self.stored(sink, target), "after committing twice")

    def test_abort_then_replay(self) -> None:
        """A failed batch is aborted (its staged output dropped), then replayed."""
        batches = self.sample_batches()
        clean = self.clean_run(batches)
        target = self.new_target()
        sink = self.open_sink(target)
        last = len(batches) - 1
        self.run(sink, target, batches[:-1])
        batch = BatchInfo(last, float(last + 1))
        messages, _ = self.write(sink, target, batch, batches[-1])
        sink.abort(batch, messages)
        if not self.visible_before_commit(sink):
            got = self.stored(sink, target)
            self.assert_same(self.clean_run(batches[:-1]), got, "after abort")
        sink = self.restart(sink, target)
        self.run(sink, target, batches[-1:], first=last, replay=True)
        self.assert_converged(clean, self.stored(sink, target), "after abort and replay")

    def test_bad_records(self) -> None:
        """The sink's own bad input: dead-lettered (reject) or failing the batch cleanly (fail)."""
        bad = self.bad_records()
        if bad is None:
            pytest.skip(f"{type(self).__name__} declares no bad records (bad_records() is None)")
        good = self.sample_batches()[0]
        gap = object()
        mixed = [r for pair in itertools.zip_longest(good, bad, fillvalue=gap) for r in pair
                 if r is not gap]
        if self.bad_records_policy == "reject":
            self._bad_records_rejected(good, bad, mixed)
        else:
            self._bad_records_fail(bad, mixed)

    def _bad_records_rejected(self, good: list[Any], bad: list[Any], mixed: list[Any]) -> None:
        from etlcore import StreamingContext

        target = self.new_target()
        sink = self.build(target.config)
        ctx = StreamingContext(1.0, target.checkpoint, clock="manual", name=self.job_name)
        ctx.queue_stream([mixed]).to(sink, name=self.name)
        ctx.run(until_idle=True)
        letters = ctx.dead_letters
        assert multiset(d["record"] for d in letters) == multiset(bad), (
            f"dead letters {letters} are not the bad records {bad}")
        assert all(d["reason"] and self.name in d["stage"] for d in letters), letters
        got = self.stored(sink, target)
        self.assert_same(self.clean_run([good], partitions=1), got, "the good records")

    def _bad_records_fail(self, bad: list[Any], mixed: list[Any]) -> None:
        batches = self.sample_batches()
        target = self.new_target()
        sink = self.open_sink(target)
        self.run(sink, target, batches[:1])
        before = self.stored(sink, target)
        batch = BatchInfo(1, 2.0)
        with pytest.raises(Exception) as err:  # noqa: B017 - the sink's own error type
            messages, _ = self.write(sink, target, batch, mixed)
            sink.commit(batch, messages)
        assert any(repr(b) in str(err.value) for b in bad), (
            f"the error does not name a bad record: {err.value}")
        self.assert_same(before, self.stored(sink, target), "after a failed batch")
        sink = self.restart(sink, target)
        self.run(sink, target, batches[1:2], first=1, replay=True)
        got = self.stored(sink, target)
        self.assert_same(self.clean_run(batches[:2]), got, "after the failed batch's replay")

    def test_job_stores_what_the_protocol_stores(self) -> None:
        """The sink in a checkpointed job (one partition per batch) stores the clean result."""
        from etlcore import StreamingContext

        batches = self.sample_batches()
        clean = self.clean_run(batches, partitions=1)
        target = self.new_target()
        sink = self.build(target.config)
        ctx = StreamingContext(1.0, target.checkpoint, clock="manual", name=self.job_name)
        ctx.queue_stream(batches).to(sink, name=self.name)
        ctx.run(until_idle=True)
        self.assert_same(clean, self.stored(sink, target), "in a job")
