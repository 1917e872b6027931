"""The runner protocol: take a job's program once, then run lists of stage tasks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from etlcore.engine.stages import Program
from etlcore.engine.task import Task, TaskResult


class Runner(ABC):
    """Runs stage tasks somewhere and returns their results in task order.

    ``ships`` is True when tasks leave this process: then the program is pickled
    (checked before the first batch) and state travels encoded.
    """

    name: str = "runner"
    ships: bool = False
    chains: bool = False  # has run_chain
    keeps_state: bool = False  # run_chain can keep a reduce stage's state between batches
    # records a catch-up batch may take from one source when the job is behind
    # (etlcore.catchup); None: off. A runner whose batch has a high fixed cost sets it.
    catch_up_records: int | None = None
    pipelines: bool = False  # submit returns before the tasks ran (calls may overlap)

    @property
    def default_parallelism(self) -> int:
        """Partitions for keyed state and windows unless the job sets them."""
        return 1

    def start(self, program: Program) -> None:  # noqa: B027 - optional hook
        """Called once before the first batch (and again after a stop)."""

    @abstractmethod
    def run(self, program: Program, tasks: list[Task]) -> list[TaskResult]:
        """Run the tasks (in parallel where the runner can); results in task order."""

    def submit(self, program: Program, tasks: list[Task]) -> Callable[[], list[TaskResult]]:
        """Start the tasks; the returned function waits for their results (task order).

        With ``pipelines`` the tasks are handed over and the call returns at once, so the
        driver can start the next batch's tasks before this one's results are in (the
        scheduler's "Running ahead"); results must be collected in submission order.
        Otherwise they run here, as :meth:`run`.
        """
        results = self.run(program, tasks)
        return lambda: results

    def run_chain(self, program: Program, tasks: list[Task], exit_id: int,
                  reduce_tasks: list[Task], state: str | None = None, keep: bool = False,
                  ) -> tuple[list[TaskResult], list[TaskResult]]:
        """Run a source stage and the reduce stage its shuffle exit ``exit_id`` feeds, as one
        unit (one Spark job): the blocks go to ``reduce_tasks[i].inputs`` on the runner's side
        and never reach the caller. Only called when ``chains`` is True.

        ``state`` (only when ``keeps_state``): the stateful reduce node. If the runner holds
        its state (:meth:`holds_state`), the tasks carry none and the held state is used.
        With ``keep`` the runner keeps the new state (results carry ``state=None``);
        without, it lets go of it and the results carry it.
        """
        raise NotImplementedError

    def holds_state(self, program: Program, key: str) -> bool:
        """The runner holds ``key``'s state from the last batch (see ``run_chain``)."""
        return False

    def take_state(self, program: Program, key: str) -> list[Any]:
        """Hand back the state kept for ``key`` (one value per partition) and let go of it."""
        raise NotImplementedError

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """A hard stop, called from another thread while a batch may be running: make
        waiting tasks end soon. The batch is not committed; a restart replays it."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release workers; readers and writers they opened are closed."""

    @property
    def multi_host(self) -> bool:
        """True when tasks may run on other machines (local paths are then not shared)."""
        return False

    def describe(self) -> str:
        return self.name
