"""The micro-batch loop: plan, log, run, commit, record.

One batch walks one way. The driver plans it (a position range per source
partition, bounded by the rate controller) and logs the plan; the runner runs
the stage tasks (reads, operators, shuffles, sink writers; see
:mod:`etlcore.engine`); every sink commits the batch with the messages its
writers returned; the commit log records it. On restart the same loop first
restores state and replays what the checkpoint says was left unfinished.

The plan only has to be durable before anything of the batch becomes visible:
before ``foreach_batch``, the dead letters and the sinks' commits. When every
sink's writers leave nothing a differently planned replay could miss
(``Sink.plan_before_write`` is False for all of them), the plan is written and
fsynced on a background thread while the tasks run, and the driver waits for
it before the commit. Otherwise it is written before the tasks start. Either way
the batch before may still be committing (:mod:`etlcore.pipelining`, "Committing behind").

Batches may overlap on the driver: batch n commits behind batch n+1's tasks, or
batch n+1's tasks start ahead of batch n's commit; :mod:`etlcore.pipelining` says when
(its module doc, "Committing behind" and "Running ahead").

Everything else here runs on the driver, on the job's thread.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from etlcore import catchup
from etlcore.batch import BatchPlan
from etlcore.checkpoint import Checkpoint, Recovery
from etlcore.ckptstore import is_remote
from etlcore.engine.batch import BatchExecutor, BatchOutcome, StartedBatch
from etlcore.engine.shipping import check_program
from etlcore.engine.stages import cut
from etlcore.errors import CheckpointError, StopJob
from etlcore.graph.base import DeadLetter
from etlcore.graph.io import SinkOutput
from etlcore.metrics import BatchMetrics, JobMetrics, counting, letter_summary
from etlcore.pipelining import (
    Ahead,
    Behind,
    CommitLog,
    TwoInFlightKill,
    abort_ahead,
    may_commit_behind,
    may_run_ahead,
    start_ahead,
)
from etlcore.sink import SinkContext, SinkWriter, WriterContext
from etlcore.source import SourceContext

if TYPE_CHECKING:
    from etlcore.context import StreamingContext

log = logging.getLogger("etlcore.scheduler")

#: Test hook: the driver SIGKILLs itself once batch N's tasks are done, before its plan
#: (deliberately never written) is durable: the window the background plan log opens.
KILL_BEFORE_PLAN_DURABLE = "ETLCORE_TEST_KILL_BEFORE_PLAN_DURABLE"


#: What running a batch gave: its outcome, its processing time, and its commit on the
#: commit-log thread when it commits behind (module doc), else None: committed.
_Executed = tuple[BatchOutcome, float, "Future[None] | None"]


class Scheduler:
    """Runs a context's graph batch after batch."""

    def __init__(self, ctx: StreamingContext):
        self.ctx = ctx
        self.graph = ctx._graph
        self.metrics = JobMetrics()
        self.positions: dict[str, dict[str, Any]] = {}
        self.next_batch_id = 0
        self.next_batch_time: float | None = None
        self.checkpoint: Checkpoint | None = None
        self.graceful_stop = threading.Event()
        self.hard_stop = threading.Event()
        self.wake = threading.Event()  # set by any stop: ends the wait for the next batch time
        self.last_plan: BatchPlan | None = None
        self._opened = False
        self._last_snapshot = -1
        self._last_bound: int | None = None  # the rate controller's per-partition cap this batch
        self.executor: BatchExecutor | None = None
        self._dead_letter_writer: SinkWriter | None = None
        self._snapshot_every_batch = False
        self._lag: dict[str, int] = {}  # source -> records left after the last plan, if known
        self._plan_log: ThreadPoolExecutor | None = None  # writes plans beside the tasks
        self._kill_at = -1  # KILL_BEFORE_PLAN_DURABLE, read once
        self._runs_ahead = False  # see "Running ahead" in etlcore.pipelining
        self._ahead: Ahead | None = None  # the batch started ahead, if any
        self._commit_log: CommitLog | None = None  # commits behind (etlcore.pipelining)
        self._kill_two: TwoInFlightKill | None = None  # a test hook, read once

    # -- lifecycle ------------------------------------------------------------
    def open(self) -> None:
        ctx = self.ctx
        fingerprint = self.graph.fingerprint()  # the job as written, before fusing
        self.graph.optimize()
        self._snapshot_every_batch = not all(n.source.input_retained for n in self.graph.sources)
        if ctx.checkpoint_dir is not None:
            # locked before anything is written; released by close() or the process's death
            self.checkpoint = Checkpoint(ctx.checkpoint_dir, ctx.name, fingerprint,
                                         ctx.state_codec, ctx.allow_changed_job)
            self.checkpoint.open()
        try:
            self._open()
        except BaseException:
            if self.checkpoint is not None:
                self.checkpoint.close()
            raise

    def _open(self) -> None:
        ctx = self.ctx
        ckpt_dir = None
        recovery = None
        if self.checkpoint is not None:
            ckpt_dir = self.checkpoint.path
            recovery = self.checkpoint.recover()
            if recovery.last_batch_time is not None and not ctx.clock.sleeps:
                # a manual clock resumes where the log ends, so replayed and new
                # batches are planned exactly as in an uninterrupted run
                ctx.clock.wait_until(recovery.last_batch_time)
        for node in self.graph.sources:
            resume = recovery.read_starts(node.key) if recovery is not None else {}
            node.source.open(SourceContext(node.key, ctx.clock, ckpt_dir, self.hard_stop,
                                           resume, readers_here=not ctx.runner.ships))
        for sink_name, sink in self.graph.all_sinks():
            sink.open(SinkContext(sink_name, ctx.name, ckpt_dir, self.hard_stop))
        self._opened = True
        if self.checkpoint is not None and not any(
                out.sink.plan_before_write for out in self.graph.outputs
                if isinstance(out, SinkOutput)):
            # the dead-letter sink and foreach_batch run on the driver after the wait
            self._plan_log = ThreadPoolExecutor(1, thread_name_prefix="etlcore-plan-log")
            self._kill_at = int(os.environ.get(KILL_BEFORE_PLAN_DURABLE, "-1"))
        if self.checkpoint is not None and may_commit_behind(self.graph.sources,
                                                             self.graph.outputs):
            self._commit_log = CommitLog()
            self._kill_two = TwoInFlightKill()
        runner = ctx.runner
        if runner.multi_host and ckpt_dir is not None and not is_remote(ckpt_dir):
            log.warning("the %s runner may run tasks on other hosts, but the checkpoint %s is a "
                        "local path: put it on storage every host sees (a shared file system, "
                        "or s3:// / hdfs:// with their plugins)", runner.describe(), ckpt_dir)
        stage_plan = cut(self.graph.reachable(), self.graph.outputs, ctx.name,
                         str(ckpt_dir) if ckpt_dir is not None else None, runner.ships)
        if runner.ships:
            check_program(stage_plan.program, runner.name)
        self._dead_letter_writer = self.graph.dead_letter_sink.writer()
        self._dead_letter_writer.open(WriterContext(
            "dead-letter", ctx.name, str(ckpt_dir) if ckpt_dir is not None else None))
        runner.start(stage_plan.program)
        self.executor = BatchExecutor(stage_plan, runner,
                                      {n.key: n for n in self.graph.sources})
        self.executor.snapshot_due = self._snapshot_due
        self._runs_ahead = may_run_ahead(self)
        ctx._hook("etlcore_job_started", job_name=ctx.name, config=ctx.describe())
        if recovery is not None:
            self._recover(recovery)

    def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        errors = []
        self._ahead = None  # left by a failed batch: never committed
        for pool in (self._commit_log, self._plan_log):  # none may outlive the lock
            if pool is not None:
                pool.shutdown()
        self._plan_log = self._commit_log = None
        try:
            self.ctx.runner.stop()
        except Exception as err:  # noqa: BLE001 - close everything, report the first
            errors.append(err)
        for node in self.graph.sources:
            try:
                node.source.close()
            except Exception as err:  # noqa: BLE001 - close everything, report the first
                errors.append(err)
        for _, sink in self.graph.all_sinks():
            try:
                sink.close()
            except Exception as err:  # noqa: BLE001
                errors.append(err)
        self.ctx._hook("etlcore_job_stopped", job_name=self.ctx.name)
        if self.checkpoint is not None:
            self.checkpoint.close()
        if errors:
            log.warning("errors while closing: %s", errors)

    def _recover(self, rec: Recovery) -> None:
        stateful = self.graph.stateful_nodes()
        assert self.executor is not None
        if rec.dropped_state:
            log.warning("job changed: state of %s starts empty", ", ".join(rec.dropped_state))
        if rec.state is not None:
            try:
                self.executor.states.restore(rec.state)
            except CheckpointError as err:
                raise CheckpointError(f"state snapshot {rec.state_path}: {err}") from None
            except Exception as err:  # noqa: BLE001 - a state no operator can take is corrupt
                raise CheckpointError(f"corrupt state snapshot {rec.state_path}: "
                                      f"{type(err).__name__}: {err}") from None
            self._last_snapshot = rec.snapshot_batch
        if stateful:
            for plan in rec.replay_plans:
                log.info("rebuilding state: batch %d", plan.batch_id)
                self._execute(plan, state_only=True)
        self.positions = rec.positions
        if not rec.pending:
            for node in self.graph.sources:  # tell sources where the committed log ends
                node.source.on_batch_committed(self.positions.get(node.key, {}))
        self.next_batch_id = rec.last_committed + 1
        for pending in rec.pending:  # two when batch n committed behind n+1 (in order)
            log.info("replaying uncommitted batch %d with its logged plan", pending.batch_id)
            self._finish(self._execute(pending, replay=True), pending)
            self.next_batch_id = pending.batch_id + 1
        if rec.last_batch_time is not None:
            interval = self.ctx.batch_interval
            next_time = rec.last_batch_time + interval
            now = self.ctx.clock.now()
            if self.ctx.clock.sleeps and next_time < now:
                # the job was down: skip the batch times it missed rather than run them
                # back to back (their input is not lost, the next batch covers it)
                next_time += math.ceil((now - next_time) / interval) * interval
            self.next_batch_time = next_time

    # -- planning ----------------------------------------------------------------
    def plan(self, batch_id: int, batch_time: float) -> BatchPlan:
        ranges: dict[str, dict[str, list[Any]]] = {}
        rate = self.ctx.rate_controller
        self._lag = {}
        catch_up = self._catch_up_cap(batch_time)
        for node in self.graph.sources:
            source = node.source
            positions = self.positions.setdefault(node.key, {})
            partitions = source.partitions()
            bound = rate.max_records(len(partitions))
            if bound is not None:
                self._last_bound = bound if self._last_bound is None else max(self._last_bound, bound)
            limit = self._step_limit(source, catch_up, len(partitions), bound)
            tail = 0 if limit is None else catchup.tail_records(limit, bound)
            parts: dict[str, list[Any]] = {}
            lag: int | None = 0
            for p in partitions:
                start = positions.get(p)
                if start is None:
                    start = source.initial_position(p)
                end = source.plan(p, start, bound)
                if limit is not None:
                    end = catchup.extend(source, p, start, end, limit, tail)
                parts[p] = [start, end]
                behind = source.lag(p, parts[p][1]) if lag is not None else None
                lag = None if behind is None or lag is None else lag + behind
            ranges[node.key] = parts
            if lag is not None and partitions:
                self._lag[node.key] = lag
        return BatchPlan(batch_id, batch_time, ranges)

    def _catch_up_cap(self, batch_time: float) -> int | None:
        """Records a catch-up batch may take from one source now, or None (module
        :mod:`etlcore.catchup`: only when the job is behind)."""
        cap = self.ctx.catch_up_records
        if cap is None or not catchup.behind(self.ctx.clock, batch_time,
                                             self.ctx.batch_interval):
            return None
        return cap

    @staticmethod
    def _step_limit(source: Any, cap: int | None, partitions: int,
                    bound: int | None) -> int | None:
        """A coalescing source's per-partition record limit this batch (the rate bound
        wins over the cap), or None: one step, as planned without catch-up."""
        if cap is None or not source.coalesces or partitions == 0:
            return None
        limit = max(1, cap // partitions)
        return limit if bound is None else min(limit, bound)

    # -- running -----------------------------------------------------------------------
    def _log_plan(self, plan: BatchPlan) -> Future[None] | None:
        """Log the plan now, or start logging it beside the batch's tasks (module doc)."""
        if self.checkpoint is None:
            return None
        if self._plan_log is None:
            self.checkpoint.write_plan(plan)
            return None
        if plan.batch_id == self._kill_at:
            return Future()  # test hook: never written, see _plan_durable
        return self._plan_log.submit(self.checkpoint.write_plan, plan)

    def _commit_behind(self, outcome: BatchOutcome, plan: BatchPlan,
                       logged: Future[None] | None) -> Future[None]:
        """Commit the batch on the commit-log thread once its plan is durable (``logged``;
        None: it is), and only if the batch before it committed (etlcore.pipelining)."""
        assert self._commit_log is not None and self.checkpoint is not None
        checkpoint, hook = self.checkpoint, self._kill_two

        def commit() -> None:
            if hook is not None:
                hook.hold(plan.batch_id, sinks=True)
            with counting(outcome.counts):
                self._commit(outcome)
            if hook is not None:
                hook.hold(plan.batch_id, sinks=False)
            checkpoint.write_commit(plan, outcome.records_in)

        return self._commit_log.submit(commit, logged)

    def _plan_durable(self, plan: BatchPlan, logged: Future[None] | None) -> None:
        """Wait until the plan logged beside the tasks is on disk (its error, if any)."""
        if logged is None:
            return
        if plan.batch_id == self._kill_at:
            behind = self._commit_log.behind if self._commit_log is not None else None
            if behind is not None:  # the window is this plan's, not a commit's
                with contextlib.suppress(Exception):
                    behind.committing.result()
            log.warning("%s=%d: killing the driver before the plan is durable",
                        KILL_BEFORE_PLAN_DURABLE, plan.batch_id)
            os.kill(os.getpid(), signal.SIGKILL)
        logged.result()

    def _settle(self, plan: BatchPlan, logged: Future[None] | None) -> None:
        """After a failed batch: let its plan write finish before anything else runs."""
        if logged is not None and plan.batch_id != self._kill_at:
            with contextlib.suppress(Exception):  # the batch's own error is the one to report
                logged.result()

    def _execute(self, plan: BatchPlan, replay: bool = False,
                 state_only: bool = False,
                 logged: Future[None] | None = None,
                 begun: StartedBatch | None = None,
                 then: Callable[[], None] | None = None,
                 behind: bool = False) -> _Executed:
        """Run and commit the batch (``begun``: already started ahead); ``then`` runs
        once its first tasks are with the runner (it starts the next batch); ``behind``:
        the commit may run on the commit-log thread (module doc, "Committing behind")."""
        # A batch allocates many short-lived containers and frees them by reference
        # counting; the cycle collector would only rescan them (2x on JSON-heavy jobs).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            assert self.executor is not None
            if begun is None:
                begun = self.executor.start(plan, replay, state_only)
            if then is not None:
                then()
            outcome = begun.finish()
            self._plan_durable(plan, logged)  # nothing of the batch is visible before this
            if self._kill_two is not None:
                self._kill_two.kill(plan.batch_id)
            self._settle_behind()  # the previous batch's commit, before anything of this one
            if state_only:
                return outcome, time.perf_counter() - begun.began, None
            if (behind and self._commit_log is not None
                    and not self._snapshot_due(plan.batch_id)):
                committing = self._commit_behind(outcome, plan, logged)
                return outcome, time.perf_counter() - begun.began, committing
            with counting(outcome.counts):
                self._commit(outcome)
            return outcome, time.perf_counter() - begun.began, None
        finally:
            if gc_was_enabled:
                gc.enable()

    def _settle_behind(self) -> None:
        """Wait for the batch committing behind, if any (its error, if it failed); its
        sources then hear that it committed."""
        committed = self._commit_log.settle() if self._commit_log is not None else None
        if committed is not None:
            self._committed(committed)

    def _committed(self, plan: BatchPlan) -> None:
        """The sources' word that the batch's commit record is durable."""
        for node in self.graph.sources:
            node.source.on_batch_committed(plan.end_positions().get(node.key, {}))

    def _commit(self, outcome: BatchOutcome) -> None:
        """Driver side of the outputs: foreach_batch, dead letters, then every sink's commit."""
        info = outcome.info
        for out in self.graph.outputs:
            if not hasattr(out, "fn"):
                continue
            # taken out of the outcome: the batch's rows are freed (or kept by fn) before
            # the cyclic GC is back on, so its first pass does not walk them
            records = outcome.collected.pop(out.name, None)
            if records is None:
                continue
            try:
                out.fn(info.batch_id, records)
            except StopJob:
                self.graceful_stop.set()  # commit this batch, then end the run
        letters = (outcome.dead_letters  # the default sink makes dicts only when read
                   if getattr(self.graph.dead_letter_sink, "takes_dead_letters", False)
                   else DeadLetter.dicts(outcome.dead_letters, info.batch_id))
        dl_messages = []
        if letters:
            assert self._dead_letter_writer is not None
            dl_messages = [self._dead_letter_writer.write(info, 0, letters)]
        commits = [(out.name, out.sink, outcome.messages.get(out.name, []))
                   for out in self.graph.outputs if hasattr(out, "sink")]
        commits.append(("dead-letter", self.graph.dead_letter_sink, dl_messages))
        for name, sink, messages in commits:
            began = time.perf_counter()
            try:
                sink.commit(info, messages)
                outcome.commit_s[name] = time.perf_counter() - began
            except Exception as err:
                err.add_note(f"etlcore: in sink '{name}' ({type(sink).__name__}.commit, "
                             f"batch {info.batch_id}, on the driver)")
                raise

    def _snapshot_due(self, batch_id: int) -> bool:
        """Batch ``batch_id`` writes a state snapshot to the checkpoint."""
        return (self.checkpoint is not None and bool(self.graph.stateful_nodes()) and (
            self._snapshot_every_batch or (batch_id + 1) % self.ctx.checkpoint_interval == 0))

    def _finish(self, result: _Executed, plan: BatchPlan,
                scheduling_delay: float = 0.0, bound: int | None = None) -> BatchMetrics:
        run, processing, committing = result
        assert self.executor is not None
        stateful = self.graph.stateful_nodes()
        snapshot = self._snapshot_due(plan.batch_id)
        if committing is None and self.checkpoint is not None:
            if snapshot:  # before the commit: a committed batch always has its state on disk
                self.checkpoint.write_state(plan.batch_id, self.executor.states.snapshot())
            self.checkpoint.write_commit(plan, run.records_in)
            if snapshot:
                if self._last_snapshot >= 0:
                    self.checkpoint.prune(self._last_snapshot)
                self._last_snapshot = plan.batch_id
        if committing is None:
            self._committed(plan)
        self.positions = plan.end_positions()
        reasons, samples = letter_summary(run.dead_letters)
        metrics = BatchMetrics(
            job=self.ctx.name,
            batch_id=plan.batch_id,
            batch_time=plan.batch_time,
            records_in=run.records_in,
            input_rate=run.records_in / self.ctx.batch_interval,
            processing_s=processing,
            scheduling_delay_s=scheduling_delay,
            dead_letters=len(run.dead_letters),
            late_records=run.late_records,
            records_out=run.written,
            state_size=self.executor.states.size() if stateful else 0,
            max_records_per_partition=bound,
            replay=run.info.replay,
            counts=dict(run.counts),
            sources=run.sources,
            records_by_operator=run.records_out,
            sink_write_s=run.write_s,
            # committing behind: the log thread is still filling run.commit_s in
            sink_commit_s=run.commit_s if committing is None else {},
            dead_letter_reasons=reasons,
            dead_letter_samples=samples,
            plan=plan.ranges,
            source_lag={} if run.info.replay else self._lag,
        )
        if committing is not None:  # its record follows the sinks' commits on the log thread
            assert self._commit_log is not None
            self._commit_log.behind = Behind(committing, plan, metrics, run.commit_s)
        self.metrics.record(metrics)
        self.ctx.rate_controller.update(metrics)
        for listener in self.ctx._listeners:
            listener(metrics)
        self.ctx._hook("etlcore_batch_completed", metrics=metrics)
        return metrics

    def interrupt(self) -> None:
        """A hard stop from another thread: waiting tasks of the running batch end soon."""
        if self.executor is not None:
            self.executor.runner.interrupt()

    def run_one(self, ahead: bool = False) -> BatchMetrics | None:
        """Plan, log and run the next batch at its scheduled time (or finish the one
        started ahead). ``ahead``: the caller runs the batch after this one too, so
        its tasks may start before this one commits (module doc, "Running ahead")."""
        upcoming, self._ahead = self._ahead, None
        logged: Future[None] | None = None
        begun: StartedBatch | None = None
        bound: int | None = None
        if upcoming is None:
            clock = self.ctx.clock
            if self.next_batch_time is None:
                self.next_batch_time = clock.now() + self.ctx.batch_interval
            batch_time = self.next_batch_time
            clock.wait_until(batch_time, self.wake)
            if self.graceful_stop.is_set() or self.hard_stop.is_set():
                return None
            delay = max(0.0, clock.now() - batch_time)
            plan = self.plan(self.next_batch_id, batch_time)
            logged = self._log_plan(plan)
            bound, self._last_bound = self._last_bound, None
        else:
            plan, begun, delay, self._lag = (upcoming.plan, upcoming.begun, upcoming.delay,
                                             upcoming.lag)
        then = None
        if ahead and self._runs_ahead and not plan.is_empty():
            then = lambda: self._start_ahead(plan)  # noqa: E731
        try:
            result = self._execute(plan, logged=logged, begun=begun, then=then, behind=True)
        except BaseException as err:
            self._settle(plan, logged)
            if not isinstance(err, Exception):
                raise
            if self.hard_stop.is_set():  # interrupted: not committed, replayed on restart
                log.info("batch %d stopped mid-run by a hard stop; a restart replays it",
                         plan.batch_id)
                return None
            raise
        metrics = self._finish(result, plan, delay, bound)
        self.next_batch_id = plan.batch_id + 1
        self.next_batch_time = plan.batch_time + self.ctx.batch_interval
        self.last_plan = plan
        return metrics

    def _start_ahead(self, current: BatchPlan) -> None:
        self._ahead = start_ahead(self, current)

    def _drop_ahead(self) -> None:
        upcoming, self._ahead = self._ahead, None
        if upcoming is not None and not self.hard_stop.is_set():
            abort_ahead(upcoming, self.graph.outputs)  # a hard stop ended its workers

    def loop(self, batches: int | None = None, until_idle: bool = False,
             duration: float | None = None,
             should_stop: Callable[[], bool] | None = None) -> JobMetrics:
        deadline = None if duration is None else time.monotonic() + duration
        done = 0
        while not (self.graceful_stop.is_set() or self.hard_stop.is_set()):
            if batches is not None and done >= batches:
                break
            if deadline is not None:
                remaining = deadline - time.monotonic()
                wait = (self.next_batch_time or 0.0) - self.ctx.clock.now()
                if remaining <= 0 or (self.ctx.clock.sleeps and wait > remaining):
                    break  # the next batch would start after the deadline
            metrics = self.run_one(ahead=batches is None or done + 1 < batches)
            if metrics is None:  # stopped while waiting for the batch time
                break
            done += 1
            if until_idle and self.last_plan is not None and self.last_plan.is_empty():
                break
            if should_stop is not None and should_stop():
                break
        try:
            self._settle_behind()
        except Exception:
            if not self.hard_stop.is_set():
                raise
            log.info("the last batch's commit stopped by a hard stop; a restart replays it")
        self._drop_ahead()
        return self.metrics
