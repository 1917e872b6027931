"""The driver's side of one batch: tasks per stage, blocks between stages, state kept.

Stages run in order. For each, the driver builds one task per partition
(source ranges from the logged plan, or the blocks routed to a reduce
partition together with that partition's state), hands them to the runner,
and files the results: blocks into the inbox of the next stage, commit
messages per sink, records for ``foreach_batch``, dead letters and counters.
Nothing else crosses between driver and workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etlcore.batch import BatchInfo, BatchPlan
from etlcore.engine.stages import StagePlan
from etlcore.engine.task import Task, TaskResult, WorkerEnv, execute, owned
from etlcore.errors import CheckpointError, EtlcoreError
from etlcore.graph.base import BatchScope, NarrowNode, Node, UnionNode, WideNode
from etlcore.graph.io import SourceNode
from etlcore.letters import Letters
from etlcore.records import Records

if TYPE_CHECKING:
    from etlcore.runners.base import Runner


KEPT_BATCHES = 10  # at most this many batches in a row keep state on the runner


@dataclass
class BatchOutcome:
    info: BatchInfo
    records_in: int = 0
    dead_letters: Letters = field(default_factory=Letters)  # packed ones unpacked when read
    late_records: int = 0
    messages: dict[str, list[Any]] = field(default_factory=dict)  # sink output -> messages
    written: dict[str, int] = field(default_factory=dict)
    collected: dict[str, list[Any]] = field(default_factory=dict)  # foreach output -> records
    counts: dict[str, int] = field(default_factory=dict)  # connector events from every task
    sources: dict[str, int] = field(default_factory=dict)  # source key -> records read
    records_out: dict[str, int] = field(default_factory=dict)  # node key -> records emitted
    write_s: dict[str, float] = field(default_factory=dict)  # sink output -> seconds, all tasks
    commit_s: dict[str, float] = field(default_factory=dict)  # sink output -> commit seconds


class StateTable:
    """Per stateful node, one state value per reduce partition (live, or encoded).

    A runner may keep a node's state itself between batches (the spark runner's cached
    state RDD): ``remote[key]`` then fetches it, and anything that reads the table
    (a checkpoint snapshot, a model) pulls it back first.
    """

    def __init__(self, plan: StagePlan, encoded: bool):
        self.encoded = encoded
        self.nodes = {n.key: n for n in plan.stateful}
        self.remote: dict[str, Callable[[], list[Any]]] = {}
        self.parts: dict[str, list[Any]] = {}
        self.sizes: dict[str, list[int]] = {}
        for node in plan.stateful:
            n = node.num_partitions or 1
            self.parts[node.key] = [None if encoded else node.first_state(i) for i in range(n)]
            self.sizes[node.key] = [0] * n

    def pull(self, key: str | None = None) -> None:
        """Bring state a runner keeps back into the table (all nodes, or ``key``)."""
        for k in [key] if key is not None else list(self.remote):
            fetch = self.remote.pop(k, None)
            if fetch is not None:
                self.parts[k] = fetch()

    def snapshot(self) -> dict[str, Any]:
        self.pull()
        out = {}
        for key, node in self.nodes.items():
            parts = self.parts[key]
            if not self.encoded:
                parts = [node.encode_state(s) for s in parts]
            else:
                parts = [node.encode_state(node.first_state(i)) if s is None else s
                         for i, s in enumerate(parts)]
            out[key] = {"driver": node.driver_state(), "parts": parts}
        return out

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.pull()  # the runner lets go of what it kept
        for key, node in self.nodes.items():
            if key not in snapshot:
                continue
            data = snapshot[key]
            if not isinstance(data, dict) or "parts" not in data:
                raise CheckpointError(f"{key}: the checkpoint's state has an old or unknown "
                                      "layout; use a new checkpoint directory")
            parts = data["parts"]
            want = node.num_partitions or 1
            if len(parts) != want:
                raise CheckpointError(
                    f"{key}: the checkpoint holds state for {len(parts)} partitions, the job has "
                    f"{want}; keep num_partitions (and parallelism) or use a new checkpoint "
                    "directory")
            node.restore_driver_state(data.get("driver"))
            live = [node.decode_state(p) for p in parts]
            self.sizes[key] = [node.state_len(s) for s in live]
            self.parts[key] = list(parts) if self.encoded else live

    def live(self, key: str) -> list[Any]:
        """The partition states of ``key`` as live values (decoded when kept encoded)."""
        self.pull(key)
        node = self.nodes[key]
        parts = self.parts[key]
        if not self.encoded:
            return parts
        return [node.new_state() if s is None else node.decode_state(s) for s in parts]

    def size(self) -> int:
        """Keys or records held, as the tasks last reported them."""
        return sum(sum(sizes) for sizes in self.sizes.values())


class BatchExecutor:
    """Runs batches of one job's stage plan on a runner."""

    def __init__(self, plan: StagePlan, runner: Runner, sources: dict[str, SourceNode]):
        self.plan = plan
        self.runner = runner
        self.sources = sources
        self.states = StateTable(plan, plan.program.encode_state)
        for key, node in plan.nodes.items():
            if node.reads_state_of is not None and node.reads_state_of not in self.states.nodes:
                raise EtlcoreError(f"operator '{key}' reads the state of "
                                   f"'{node.reads_state_of}', which is not a stateful operator "
                                   "of this job")
        self.driver_env = WorkerEnv("driver")  # for stages that run on the driver
        # set by the scheduler: batches whose state goes to a checkpoint, so a runner
        # that could keep state between batches hands it back with the results instead
        self.snapshot_due: Callable[[int], bool] = lambda batch_id: False
        self._kept_run: dict[str, int] = {}  # node -> batches its state stayed on the runner

    def _count(self, node: Node, ntasks: dict[str, int], memo: dict[str, int]) -> int:
        """Partitions of ``node`` in this batch (decides ``n`` for shuffles without one)."""
        if node.key in memo:
            return memo[node.key]
        if node.kind == "source":
            n = ntasks[node.key]
        elif isinstance(node, WideNode):
            n = node.partitions([self._count(p, ntasks, memo) for p in node.parents])
        elif isinstance(node, UnionNode):
            n = sum(self._count(p, ntasks, memo) for p in node.parents)
        else:
            n = self._count(node.parents[0], ntasks, memo)
        memo[node.key] = n
        return n

    @property
    def runs_ahead(self) -> bool:
        """A batch's tasks may be started before the previous batch is finished.

        True when the runner can hold two batches' tasks (``pipelines``) and a batch's
        tasks depend on nothing the previous batch leaves on the driver: one source
        stage read by the workers, then only stages the driver runs itself (a stateless
        reduce into ``foreach_batch``: ``Stage.on_driver``) of operators that learn
        nothing from a batch (``WideNode.batch_independent``); no keyed state, no
        operator that reads state or computes per-batch data on the driver (a join's
        reloaded table). The driver's stages of batch n then run while the workers
        read and fold n+1 (W1's merge of the workers' word counts).
        """
        stages = self.plan.program.stages
        first = stages[0]
        return (self.runner.pipelines and first.kind == "source"
                and first.reader is not None and not first.on_driver
                and all(s.on_driver for s in stages[1:])
                and not self.plan.stateful
                and not any((isinstance(n, WideNode) and not n.batch_independent)
                            or n.reads_state_of is not None
                            or (isinstance(n, NarrowNode)
                                and type(n).param is not NarrowNode.param)
                            for n in self.plan.nodes.values()))

    def run(self, plan: BatchPlan, replay: bool = False, state_only: bool = False) -> BatchOutcome:
        return self.start(plan, replay, state_only).finish()

    def start(self, plan: BatchPlan, replay: bool = False,
              state_only: bool = False) -> StartedBatch:
        """Build the batch's first tasks and hand them to the runner; ``finish`` does the
        rest. Between the two the driver may start the next batch (``runs_ahead``)."""
        return StartedBatch(self._steps(plan, replay, state_only))

    def _steps(self, plan: BatchPlan, replay: bool,
               state_only: bool) -> Generator[None, None, BatchOutcome]:
        """The batch, paused once: after the first runner call was submitted."""
        sp, program = self.plan, self.plan.program
        info = BatchInfo(plan.batch_id, plan.batch_time, replay or state_only)
        scope = BatchScope(info, plan.batch_id)
        outcome = BatchOutcome(info)

        ntasks: dict[str, int] = {}
        for stage in program.stages:
            if stage.kind == "source":
                ntasks[stage.root] = len(plan.ranges.get(stage.root, {}))
        memo: dict[str, int] = {}
        for stage in program.stages:
            if stage.kind == "wide":
                ntasks[stage.root] = self._count(sp.nodes[stage.root], ntasks, memo)

        params: dict[str, Any] = {}
        for key, node in sp.nodes.items():
            if node.reads_state_of is not None:
                params[key] = node.state_param(scope, self.states.live(node.reads_state_of))
            elif isinstance(node, WideNode):
                upstream = sum(ntasks[program.stages[s].root] for s in sp.feeders.get(key, []))
                params[key] = node.param(scope, upstream)
            elif isinstance(node, NarrowNode):
                params[key] = node.param(scope)
        shuffle_n = {key: ntasks[key] for key, node in sp.nodes.items()
                     if isinstance(node, WideNode)}

        sink_next: dict[str, int] = {}  # output name -> next partition number
        inbox: dict[tuple[str, int], list[list[Any]] | None] = {}
        counters: list[dict[str, Any]] = []
        messages: dict[str, list[tuple[int, Any]]] = {}
        collected: dict[str, list[tuple[tuple[int, int], list[list[Any]], bool]]] = {}

        def build(stage: Any, sides: list[Any] | None = None, held: bool = False) -> list[Task]:
            """The stage's tasks; a wide stage's ``inputs`` come from ``sides`` (the inbox).
            ``held``: the runner holds the stage's state, so its tasks carry none."""
            n_tasks = ntasks[stage.root]
            root = sp.nodes[stage.root]
            tasks: list[Task] = []
            if stage.kind == "source":
                ranges = plan.ranges.get(stage.root, {})
                source = self.sources[stage.root].source
                for i, (partition, (start, end)) in enumerate(sorted(ranges.items())):
                    task = Task(stage.id, i, info, plan.batch_id)
                    if stage.reader is None:
                        task.records = [] if start == end else owned(
                            source.read(partition, start, end), stage.fresh)
                    else:
                        task.source = (partition, start, end)
                    tasks.append(task)
            else:
                assert isinstance(root, WideNode)
                if sides is None:
                    sides = [inbox.get((root.key, s)) for s in range(len(root.parents))]
                if root.skips(sides):
                    tasks = []  # no input this batch: no output either
                    n_tasks = 0
                else:
                    emits = root.emits(scope)
                    if not held:
                        self.states.pull(root.key)
                    states = None if held else self.states.parts.get(root.key)
                    for i in range(n_tasks):
                        inputs = [None if side is None else side[i] for side in sides]
                        tasks.append(Task(stage.id, i, info, plan.batch_id, inputs=inputs,
                                          state=states[i] if states is not None else None,
                                          emits=emits))
            bases: dict[int, int] = {}
            for ex in stage.exits:
                if ex.kind == "sink":
                    bases[ex.id] = sink_next.get(ex.target, 0)
                    sink_next[ex.target] = bases[ex.id] + n_tasks * stage.subparts[ex.node]
            for i, task in enumerate(tasks):
                task.params = params
                task.shuffle_n = shuffle_n
                task.state_only = state_only
                task.sink_base = {eid: b + i * stage.subparts[stage.exits[eid].node]
                                  for eid, b in bases.items()}
            return tasks

        def file(stage: Any, results: list[TaskResult], kept: bool = False) -> None:
            self._file(stage, results, shuffle_n, inbox, outcome, counters, messages, collected)
            root = sp.nodes[stage.root]
            if root.kind == "wide" and root.stateful and results:
                parts = self.states.parts[root.key]
                sizes = self.states.sizes[root.key]
                for r in results:
                    if not kept:  # kept: the runner holds the new state, the table is stale
                        parts[r.part] = r.state
                    sizes[r.part] = r.state_len

        fused: set[int] = set()
        paused = False
        for stage in program.stages:
            if stage.id in fused:
                continue
            tasks = build(stage)
            chain = self._chain(stage, tasks)
            if chain is not None:
                # one runner call for the source stage and the reduce stage it feeds
                # (one Spark job; the blocks go through the runner's shuffle)
                exit_id, after, can_keep = chain
                key = after.root
                held = can_keep and self.runner.holds_state(program, key)
                later = build(after, sides=[[[]] * ntasks[key]], held=held)
                if not later:
                    self.states.pull(key)
                    results, later_results = self.runner.run(program, tasks), []
                else:
                    # a snapshot batch brings the state back with the results, and so
                    # does every KEPT_BATCHES-th: it cuts the runner's lineage (Spark
                    # would otherwise hold every earlier batch's input to recompute it)
                    run = self._kept_run.get(key, 0)
                    keep = (can_keep and not self.snapshot_due(plan.batch_id)
                            and run < KEPT_BATCHES)
                    self._kept_run[key] = run + 1 if keep else 0
                    results, later_results = self.runner.run_chain(
                        program, tasks, exit_id, later, key if can_keep else None, keep)
                    if keep:
                        self.states.remote[key] = (
                            lambda key=key: self.runner.take_state(program, key))
                    else:
                        self.states.remote.pop(key, None)  # the results carry it
                file(stage, results)
                file(after, later_results, kept=bool(later) and keep)
                fused.add(after.id)
                continue
            if not tasks:
                results = []
            elif stage.on_driver and self.runner.ships:
                results = [execute(program, self.driver_env, t) for t in tasks]
            else:
                collect = self.runner.submit(program, tasks)
                if not paused:
                    paused = True
                    yield  # the tasks are out: the driver may start the next batch
                results = collect()
            file(stage, results)

        for key, node in sp.nodes.items():
            if isinstance(node, WideNode):
                node.after_batch(counters, params.get(key))
        for name, msgs in messages.items():
            outcome.messages[name] = [m for _, m in sorted(msgs, key=lambda x: x[0])]
        for name in sp.sink_outputs:
            outcome.messages.setdefault(name, [])
        for name, chunks in collected.items():
            chunks.sort(key=lambda c: c[0])
            if len(chunks) == 1 and chunks[0][2] and len(chunks[0][1]) == 1 and (
                    type(chunks[0][1][0]) is Records):
                # a wide node's Records (a window's rows) that nothing else read: handed on
                outcome.collected[name] = chunks[0][1][0]
                continue
            # one copy, in C, into the list foreach_batch receives (see _commit)
            flat = Records()
            for _, parts, _sole in chunks:
                for p in parts:
                    flat += p
            outcome.collected[name] = flat
        return outcome

    def _chain(self, stage: Any, tasks: list[Task]) -> tuple[int, Any, bool] | None:
        """(shuffle exit, reduce stage, keep) when ``stage`` and the one stage it feeds can
        run as one runner call: a source stage with tasks whose only shuffle goes to a
        one-parent wide stage fed by nothing else, which runs off the driver.

        ``keep``: the runner may keep the reduce stage's state between batches. Only
        when no operator reads that state on the driver, and neither stage writes to a
        sink: a runner that lost kept state recomputes it from earlier batches' tasks,
        which must then have no effect outside.
        """
        if not self.runner.chains or stage.kind != "source" or not tasks:
            return None
        shuffles = [ex for ex in stage.exits if ex.kind == "shuffle"]
        if len(shuffles) != 1:
            return None
        ex = shuffles[0]
        root = self.plan.nodes[ex.target]
        after = next(s for s in self.plan.program.stages if s.root == ex.target)
        if (after.id != stage.id + 1 or self.plan.feeders.get(ex.target) != [stage.id]
                or len(root.parents) != 1 or after.on_driver):
            return None
        keep = (self.runner.keeps_state and isinstance(root, WideNode) and root.stateful
                and not any(n.reads_state_of == root.key for n in self.plan.nodes.values())
                and not any(e.kind == "sink" for e in stage.exits + after.exits))
        return ex.id, after, keep

    def _file(self, stage: Any, results: list[TaskResult], shuffle_n: dict[str, int],
              inbox: dict[tuple[str, int], list[list[Any]] | None], outcome: BatchOutcome,
              counters: list[dict[str, Any]],
              messages: dict[str, list[tuple[int, Any]]],
              collected: dict[str, list[tuple[tuple[int, int], list[list[Any]], bool]]]) -> None:
        for r in sorted(results, key=lambda r: r.part):
            outcome.records_in += r.records_in
            if stage.kind == "source":
                outcome.sources[stage.root] = outcome.sources.get(stage.root, 0) + r.records_in
            for key, n in r.records_out.items():
                outcome.records_out[key] = outcome.records_out.get(key, 0) + n
            outcome.dead_letters.extend(r.dead_letters)
            outcome.late_records += r.late_records
            for name, n in r.counts.items():
                outcome.counts[name] = outcome.counts.get(name, 0) + n
            if r.counters:
                counters.append(r.counters)
            for ex in stage.exits:
                if ex.kind == "shuffle":
                    blocks = r.shuffle.get(ex.id)
                    slot = (ex.target, ex.side)
                    if blocks is None:
                        inbox.setdefault(slot, None)
                        continue
                    box = inbox.get(slot)
                    if box is None:
                        box = inbox[slot] = [[] for _ in range(shuffle_n[ex.target])]
                    for i, block in enumerate(blocks):
                        box[i].append(block)
                elif ex.kind == "sink" and ex.id in r.messages:
                    messages.setdefault(ex.target, []).extend(r.messages[ex.id])
                    outcome.written[ex.target] = (outcome.written.get(ex.target, 0)
                                                  + r.written.get(ex.id, 0))
                    outcome.write_s[ex.target] = (outcome.write_s.get(ex.target, 0.0)
                                                  + r.write_s.get(ex.id, 0.0))
                elif ex.kind == "collect" and r.collected.get(ex.id) is not None:
                    collected.setdefault(ex.target, []).append(
                        ((stage.id, r.part), r.collected[ex.id], _sole_reader(stage, ex)))


class StartedBatch:
    """A batch whose first tasks are with the runner; :meth:`finish` completes it."""

    def __init__(self, steps: Generator[None, None, BatchOutcome]):
        self.began = time.perf_counter()
        self._steps = steps
        self._outcome: BatchOutcome | None = None
        self._next()

    def _next(self) -> None:
        try:
            next(self._steps)
        except StopIteration as done:
            self._outcome = done.value

    def finish(self) -> BatchOutcome:
        """Wait for the tasks, run the later stages, file everything (once)."""
        if self._outcome is None:
            self._next()
        assert self._outcome is not None, "a batch pauses once"
        return self._outcome


def _sole_reader(stage: Any, ex: Any) -> bool:
    """Whether collect exit ``ex`` is the only reader of a wide stage's root output.

    Then a ``Records`` the root's ``reduce_side`` returned (a window's rows, made
    by the kernel at their length) is held by nothing else, not by a sink's
    message nor by a narrow node's input, and goes to ``foreach_batch`` uncopied.
    """
    return (stage.kind == "wide" and ex.node == stage.root
            and sum(e.node == ex.node for e in stage.exits) == 1
            and not any(ex.node in m.inputs for m in stage.members))
