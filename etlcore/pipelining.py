"""Batches overlapping on the driver: committing behind and running ahead.

The scheduler (:mod:`etlcore.scheduler`) runs one batch after the other; this module
holds the two ways it lets neighbouring batches overlap, and when each applies.

Committing behind. With a checkpoint, every source ``plans_ahead`` and every output a
sink (no ``foreach_batch``, which runs user code on the driver's thread), batch n's
commit (every sink's ``commit``, then its commit record) runs on a commit-log thread
while the driver plans batch n+1, logs its plan and runs its tasks; the sinks'
transactions and the commit record's fsyncs were a fifth of a Kafka batch (W5), the
files sink's manifest and the gap between batches a tenth of an S3 write batch. That
thread commits one batch after the other, each only once its plan is durable and only
if the commit before it succeeded, so no sink commits n+1 before n's commit record is on
disk. Batch n+1's plan is logged while n commits: beside n+1's tasks when every sink
allows it, else before them (``Sink.plan_before_write``: the files sink on S3 writes
final keys), so n+1's writers may have written before n's commit record is durable. A
restart then finds two plans past the last commit and replays both, in order, with
exactly the logged plans (``Checkpoint.recover``): n's commit is made again (sinks commit
idempotently per batch id) and n+1's writers overwrite what they wrote. The driver waits
for n's commit after n+1's tasks and before n+1's commit or plan n+2, so at most one
commit is in flight and at most two plans are past the last commit; the sources'
``on_batch_committed(n)`` runs then, after the record is durable. Batch n's
metrics and listeners come when its tasks are done, as before (its ``sink_commit_s`` are
filled in when the driver has waited for the commit). A batch that writes a state
snapshot commits in line, and so does a replay.

Running ahead. When nothing of batch n+1's tasks depends on batch n's commit,
the driver plans n+1 and hands its tasks to the runner right after n's, before
it collects n's results and commits n: the workers go from n's tasks straight
to n+1's instead of idling while the driver files, commits and records n
(about a fifth of a W3 batch on two processes). It does so only when all of
these hold, and otherwise keeps the order above:

- the runner ``pipelines`` (processes) and the batch is one source stage with
  no state, shuffle or driver-computed data (``BatchExecutor.runs_ahead``);
- every source ``plans_ahead``: planning n+1 before n committed, from n's
  planned ends, is what it would have planned after;
- no rate control (``RateController.bounds``): each bound is learnt from the
  previous batch;
- no checkpoint: exactly-once recovery would have to know which of two
  batches in flight each sink committed, which this loop does not log;
- batch n+1 is due (a manual clock, or a system clock that is behind) and the
  loop will run it (``run_one(ahead=True)``); an empty batch n starts nothing.

Batches still commit one at a time, in order. A batch started ahead that the
loop then does not run (a graceful stop, ``StopJob``, the deadline) is
collected and aborted: every sink's ``abort`` gets its writers' messages, and
nothing of it is committed; the next run plans it again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etlcore.batch import BatchPlan
from etlcore.engine.batch import StartedBatch
from etlcore.graph.io import SinkOutput
from etlcore.metrics import BatchMetrics

if TYPE_CHECKING:
    from etlcore.scheduler import Scheduler

log = logging.getLogger("etlcore.scheduler")

#: "1": never run ahead (module doc), for A/B measurements in one tree.
NO_RUN_AHEAD = "ETLCORE_NO_RUN_AHEAD"
#: "1": never commit behind (module doc), for A/B measurements in one tree.
NO_COMMIT_BEHIND = "ETLCORE_NO_COMMIT_BEHIND"
#: Test hook, "N" or "N:sinks": batch N-1, committing behind, stops before its commit
#: record ("N:sinks": before its sinks' commits) and the driver SIGKILLs itself once batch
#: N's tasks are done and its plan is durable: two batches in flight, neither recorded.
KILL_TWO_IN_FLIGHT = "ETLCORE_TEST_KILL_TWO_IN_FLIGHT"


class TwoInFlightKill:
    """The :data:`KILL_TWO_IN_FLIGHT` hook, read once."""

    def __init__(self) -> None:
        batch, _, where = os.environ.get(KILL_TWO_IN_FLIGHT, "-1").partition(":")
        self.batch = int(batch)
        self.before_sinks = where == "sinks"
        self._held = threading.Event()

    def hold(self, batch_id: int, sinks: bool) -> None:
        """On the commit-log thread: stop batch N-1's commit at its point until the kill."""
        if batch_id == self.batch - 1 and sinks == self.before_sinks:
            self._held.set()
            threading.Event().wait(60)  # the driver kills the process meanwhile

    def kill(self, batch_id: int) -> None:
        """On the driver, batch N's tasks done and its plan durable: die."""
        if batch_id == self.batch and self._held.wait(60):
            log.warning("%s=%d: killing the driver with two batches in flight",
                        KILL_TWO_IN_FLIGHT, batch_id)
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Behind:
    """Batch n, committing on the commit-log thread (module doc, "Committing behind")."""

    committing: Future[None]
    plan: BatchPlan
    metrics: BatchMetrics  # recorded already; its sink_commit_s follow the commit
    commit_s: dict[str, float]  # the sinks' commit times, filled in by the log thread


@dataclass
class Ahead:
    """Batch n+1, planned and started while batch n was still to commit (module doc)."""

    plan: BatchPlan
    begun: StartedBatch
    delay: float  # its scheduling delay
    lag: dict[str, int]  # the sources' lag after its plan


def may_commit_behind(sources: Iterable[Any], outputs: Iterable[Any]) -> bool:
    """Every source plans ahead and every output is a sink, and the switch is not off
    (module doc, "Committing behind"); the caller knows the plans are logged beside."""
    return (all(n.source.plans_ahead for n in sources)
            and all(isinstance(out, SinkOutput) for out in outputs)
            and os.environ.get(NO_COMMIT_BEHIND) != "1")


def may_run_ahead(sched: Scheduler) -> bool:
    """The conditions of "Running ahead" (module doc) that hold for the whole run."""
    assert sched.executor is not None
    return (sched.checkpoint is None and sched.executor.runs_ahead
            and all(n.source.plans_ahead for n in sched.graph.sources)
            and not sched.ctx.rate_controller.bounds
            and os.environ.get(NO_RUN_AHEAD) != "1")


class CommitLog:
    """The commit-log thread and the one batch committing on it, if any."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="etlcore-commit-log")
        self.behind: Behind | None = None

    def submit(self, commit: Callable[[], None], logged: Future[None] | None) -> Future[None]:
        """Run ``commit`` on the thread once the plan (``logged``, None: durable already)
        is on disk, and only if the batch before it committed."""
        before = self.behind.committing if self.behind is not None else None

        def run() -> None:
            if before is not None:
                before.result()  # done (one thread, in order); raises its failure
            if logged is not None:
                logged.result()  # nothing of the batch is visible before its plan is durable
            commit()

        return self._pool.submit(run)

    def settle(self) -> BatchPlan | None:
        """Wait for the batch committing behind, if any (its error, if it failed), and
        return its plan, now committed."""
        behind, self.behind = self.behind, None
        if behind is None:
            return None
        behind.committing.result()
        behind.metrics.sink_commit_s = dict(behind.commit_s)  # timed on the log thread
        return behind.plan

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def start_ahead(sched: Scheduler, current: BatchPlan) -> Ahead | None:
    """Plan the batch after ``current`` from its planned ends and start its tasks,
    if it is due and no stop came (module doc, "Running ahead")."""
    clock = sched.ctx.clock
    batch_time = current.batch_time + sched.ctx.batch_interval
    if clock.sleeps and clock.now() < batch_time:
        return None  # not due: planned after this batch commits, as usual
    clock.wait_until(batch_time, sched.wake)  # a manual clock moves to it
    if sched.graceful_stop.is_set() or sched.hard_stop.is_set():
        return None
    delay = max(0.0, clock.now() - batch_time)
    lag = sched._lag  # the current batch's, for its metrics
    committed, sched.positions = sched.positions, current.end_positions()
    try:
        plan = sched.plan(current.batch_id + 1, batch_time)
    finally:
        sched.positions = committed  # until the current batch's commit moves them
    assert sched.executor is not None
    ahead = Ahead(plan, sched.executor.start(plan), delay, sched._lag)
    sched._lag = lag
    return ahead


def abort_ahead(upcoming: Ahead, outputs: Iterable[Any]) -> None:
    """A batch started ahead that the loop will not run: collect and abort it."""
    batch_id = upcoming.plan.batch_id
    try:
        outcome = upcoming.begun.finish()
        for out in outputs:
            if hasattr(out, "sink"):
                out.sink.abort(outcome.info, outcome.messages.get(out.name, []))
    except Exception as err:  # noqa: BLE001 - a batch the run was not going to commit
        log.warning("batch %d, started ahead and not run, failed while aborted: %s: %s",
                    batch_id, type(err).__name__, err)
        return
    log.info("batch %d, started ahead, aborted: the run ended before it", batch_id)
