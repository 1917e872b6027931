"""The in-process runner: every task in the calling thread, nothing pickled."""

from __future__ import annotations

from etlcore.engine.stages import Program
from etlcore.engine.task import Task, TaskResult, WorkerEnv, execute
from etlcore.runners.base import Runner


class LocalRunner(Runner):
    """One task after another on the job's thread: the fastest choice for small batches."""

    name = "local"

    def __init__(self) -> None:
        self.env = WorkerEnv("driver")

    def run(self, program: Program, tasks: list[Task]) -> list[TaskResult]:
        env = self.env
        return [execute(program, env, t) for t in tasks]

    def interrupt(self) -> None:
        self.env.stopping.set()

    def start(self, program: Program) -> None:
        self.env.stopping.clear()

    def stop(self) -> None:
        self.env.close()
