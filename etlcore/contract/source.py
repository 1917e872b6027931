"""The source contract: planned ranges read the same, wherever and whenever read.

Subclass :class:`SourceContract` in a test module (the class name must start
with ``Test``) and give ``config`` and ``produce``; the tests plan batches as
the driver does (one ``plan`` per partition per batch, positions through the
JSON plan log, ``on_batch_committed`` after each), read the ranges through
readers shipped by pickle and cloudpickle, restart the source on the same
checkpoint, and run it in a job.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import pytest

from etlcore.clock import ManualClock
from etlcore.contract.base import ConnectorContract
from etlcore.contract.drive import (
    PICKLERS,
    Target,
    canon,
    json_roundtrip,
    multiset,
    roundtrip,
    unique_name,
)
from etlcore.source import DriverReader, ReaderContext, Source, SourceContext, SourceReader

Plan = dict[str, tuple[Any, Any]]  # partition -> (start, end) of one batch

_MAX_BATCHES = 1000


class _JobCloser:
    def __init__(self, ctx: Any):
        self.ctx = ctx

    def close(self) -> None:
        self.ctx._get_scheduler().close()  # a no-op once run() closed it


class SourceContract(ConnectorContract):
    """Contract tests for a source; see :mod:`etlcore.contract`.

    ``reads_on_driver``: the source's reader is a ``DriverReader`` (its data
    lives in the driver's memory). ``bad_input_policy``: ``"reject"`` (bad
    input is yielded as :class:`~etlcore.source.Rejected` and reaches the dead
    letters) or ``"pass"`` (it is yielded as is, for a cleanse step).
    ``max_records`` bounds each planned range, so input spans several batches.
    """

    kind: ClassVar[str] = "source"
    reads_on_driver: ClassVar[bool] = False
    bad_input_policy: ClassVar[str] = "reject"
    max_records: ClassVar[int | None] = 3

    clock: ManualClock

    # -- what a subclass gives ---------------------------------------------------------
    def produce(self, source: Source, round: int) -> list[Any] | None:  # noqa: A002
        """Make new input available to the opened ``source`` (round 0, then 1 after a restart).

        Return the records a reader must yield for it (any order), or None when
        they cannot be known in advance; return only once the source can plan them.
        """
        raise NotImplementedError(f"{type(self).__name__} must define produce(source, round)")

    def bad_config(self, target: Target) -> dict[str, Any]:
        """The config for the bad-input test (default: the target's config)."""
        return target.config

    def produce_bad(self, source: Source) -> list[Any]:
        """Make the source's own bad input available; return the raw values it must yield."""
        raise NotImplementedError

    # -- driving the protocol ------------------------------------------------------------
    def open_source(self, target: Target) -> Source:
        if not hasattr(self, "clock"):
            self.clock = ManualClock(1_700_000_000.0)
        source = self.closing(self.build(target.config))
        source.open(SourceContext(self.name, self.clock, target.checkpoint))
        return source

    def restart(self, source: Source, target: Target) -> Source:
        """A new driver on the same checkpoint: a new source object, opened."""
        with contextlib.suppress(Exception):
            source.close()
        return self.open_source(target)

    def plan_batches(self, source: Source, positions: dict[str, Any]) -> list[Plan]:
        """Batches as the driver plans them, until one plans nothing; updates ``positions``."""
        batches: list[Plan] = []
        for _ in range(_MAX_BATCHES):
            plan: Plan = {}
            for p in source.partitions():
                start = positions[p] if p in positions else json_roundtrip(
                    source.initial_position(p))
                end = json_roundtrip(source.plan(p, start, self.max_records))
                if end != start:
                    plan[p] = (start, end)
                positions[p] = end
            if not plan:
                return batches
            batches.append(plan)
            source.on_batch_committed(dict(positions))
        raise AssertionError(f"the source planned {_MAX_BATCHES} batches and had more")

    def open_reader(self, source: Source, target: Target, via: str | None = None) -> SourceReader:
        reader = source.reader()
        if via is not None:
            reader = roundtrip(reader, via)
        reader.open(ReaderContext(self.name, self.job_name, str(target.checkpoint),
                                  worker=f"contract-{via or 'driver'}"))
        return self.closing(reader)

    def read(self, reader: SourceReader, batches: list[Plan]) -> list[list[Any]]:
        """Each planned range's records, in plan order."""
        return [list(reader.read(p, start, end)) for plan in batches
                for p, (start, end) in plan.items()]

    def assert_expected(self, got: list[Any], expected: list[Any] | None) -> None:
        if expected is not None:
            assert multiset(got) == multiset(expected), (
                f"read {sorted(map(canon, got))}, produced {sorted(map(canon, expected))}")
        else:
            twice = [k for k, n in multiset(got).items() if n > 1]
            assert not twice, f"records read twice: {twice}"

    def _job(self, target: Target, config: dict[str, Any]) -> tuple[Any, Source, str]:
        from etlcore import StreamingContext

        source = self.build(config)
        out = unique_name()
        ctx = StreamingContext(1.0, target.checkpoint, clock="manual", name=self.job_name)
        ctx.stream(source, name=self.name).sink("memory", name=out)
        ctx.open()
        self.closing(_JobCloser(ctx))  # if the test fails before ctx.run closes it
        return ctx, source, out

    # -- the contract -----------------------------------------------------------------------
    @pytest.mark.parametrize("via", ["pickle", "cloudpickle"])
    def test_reader_ships_to_workers(self, via: str) -> None:
        """A reader pickled as runners ship it reads what the driver's own reads."""
        target = self.new_target()
        source = self.open_source(target)
        expected = self.produce(source, 0)
        batches = self.plan_batches(source, {})
        assert batches, "produce() gave the source nothing to plan"
        reader = source.reader()
        if self.reads_on_driver:
            assert isinstance(reader, DriverReader), "reads_on_driver, but no DriverReader"
            with pytest.raises(TypeError):
                PICKLERS[via].dumps(reader)
            via = None  # type: ignore[assignment]  # the driver reads, nothing ships
        else:
            assert not isinstance(reader, DriverReader), (
                "the reader is a DriverReader: set reads_on_driver = True")
        here = self.read(self.open_reader(source, target), batches)
        there = self.read(self.open_reader(source, target, via), batches)
        assert there == here
        self.assert_expected([r for part in here for r in part], expected)

    def test_replayed_range_reads_the_same(self) -> None:
        """A planned range read again, and after a restart, gives the same records in order."""
        target = self.new_target()
        source = self.open_source(target)
        self.produce(source, 0)
        batches = self.plan_batches(source, {})
        first = self.read(self.open_reader(source, target), batches)
        assert self.read(self.open_reader(source, target), batches) == first
        source = self.restart(source, target)
        assert self.read(self.open_reader(source, target), batches) == first

    def test_resume_neither_skips_nor_repeats(self) -> None:
        """After a restart, planning from the committed positions reads only the new input."""
        target = self.new_target()
        source = self.open_source(target)
        positions: dict[str, Any] = {}
        expected0 = self.produce(source, 0)
        before = self.read(self.open_reader(source, target), self.plan_batches(source, positions))
        source = self.restart(source, target)
        source.on_batch_committed(dict(positions))
        expected1 = self.produce(source, 1)
        after = self.read(self.open_reader(source, target), self.plan_batches(source, positions))
        assert any(after), "nothing was planned after the restart"
        got = [r for part in before + after for r in part]
        both = None if expected0 is None or expected1 is None else expected0 + expected1
        self.assert_expected(got, both)

    def test_bad_input(self) -> None:
        """The source's own bad input: dead-lettered (reject) or passed on unchanged (pass)."""
        if type(self).produce_bad is SourceContract.produce_bad:
            pytest.skip(f"{type(self).__name__} declares no bad input (no produce_bad())")
        from etlcore.connectors.queue import MemorySink

        target = self.new_target()
        ctx, source, out = self._job(target, self.bad_config(target))
        bad = self.produce_bad(source)
        ctx.run(until_idle=True)
        letters = ctx.dead_letters
        results = MemorySink.results(out)
        MemorySink.clear(out)
        if self.bad_input_policy == "reject":
            assert multiset(d["record"] for d in letters) == multiset(bad), (
                f"dead letters {letters} are not the bad input {bad}")
            assert all(d["reason"] and d["stage"] == self.name for d in letters), letters
            assert not multiset(bad) & multiset(results), "bad input reached the sink"
        else:
            assert not letters, f"bad input was dead-lettered: {letters}"
            missing = multiset(bad) - multiset(results)
            assert not missing, f"bad input did not come through as is: {sorted(missing)}"

    def test_job_reads_every_record_once(self) -> None:
        """In a checkpointed job, produced input reaches the sink exactly once."""
        from etlcore.connectors.queue import MemorySink

        target = self.new_target()
        ctx, source, out = self._job(target, target.config)
        expected = self.produce(source, 0)
        ctx.run(until_idle=True)
        got = MemorySink.results(out)
        MemorySink.clear(out)
        assert got, "the job read nothing"
        self.assert_expected(got, expected)
