"""The two operators every streaming model uses: train (wide) and score (narrow).

Training is one shuffle into one partition per batch, shaped like MLlib's
``treeAggregate``: the driver hands the current model to every upstream task
(:meth:`Node.state_param`, as MLlib broadcasts it), each task's map side
reduces its points to small partial statistics (a gradient sum, per-cluster
sums and counts), and the one reduce task merges them and updates the model,
which is that partition's state: checkpointed with the job's state (numpy
arrays in the state codec) and restored after a crash. So the points never
leave the task that read them, and training scales with the runner.

Scoring is a narrow operator that gets the model the same way, so it runs
fused into the tasks that produce the points. It scores with the model as it
stood before this batch's training (score, then learn: a batch's labels never
leak into its own predictions, and a replayed batch scores the same).
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import numpy as np

from etlcore.errors import CheckpointError
from etlcore.graph.base import BatchScope, NarrowNode, Node, TaskContext, WideNode

Model = dict[str, np.ndarray]


class Algorithm(Protocol):
    """What a streaming model computes; plain config, shipped to every worker."""

    name: str

    def identity(self) -> dict[str, Any]: ...
    def initial(self) -> Model: ...
    def parse(self, records: list[Any], ctx: TaskContext, stage: str) -> tuple[np.ndarray, Any]: ...
    def partial(self, x: np.ndarray, y: Any, model: Model, batch_id: int) -> Any: ...
    def merge(self, partials: list[Any]) -> Any: ...
    def update(self, model: Model, stats: Any, batch_id: int) -> Model: ...
    def predict(self, model: Model, x: np.ndarray) -> np.ndarray: ...
    def check(self, data: Any) -> Model: ...


def digest(model: Model) -> str:
    """A short hash of a model's arrays (the job fingerprint names the initial model by it)."""
    h = hashlib.sha256()
    for name in sorted(model):
        arr = np.ascontiguousarray(model[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


class TrainNode(WideNode):
    """Updates a model once per batch from partial statistics merged across partitions."""

    op = "train"
    stateful = True
    propagate_none = False  # KMeans decays its weights on an empty batch too, as MLlib does
    num_partitions = 1

    def __init__(self, parent: Node, key: str, algo: Algorithm):
        super().__init__([parent], key)
        self.algo = algo
        self.reads_state_of = key

    def identity(self) -> dict[str, Any]:
        return {**self.algo.identity(), "initial": digest(self.algo.initial())}

    def state_param(self, scope: BatchScope, states: list[Any]) -> Any:
        return states[0]

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        x, y = self.algo.parse(records, ctx, self.key)
        return [self.algo.partial(x, y, param, ctx.info.batch_id)]

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        stats = self.algo.merge(inputs[0] or [])
        return [], self.algo.update(state, stats, ctx.info.batch_id)

    def new_state(self) -> Any:
        return self.algo.initial()

    def encode_state(self, state: Any) -> Any:
        return dict(state)

    def decode_state(self, data: Any) -> Any:
        try:
            return self.algo.check(data)
        except (TypeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{self.key}: unreadable {self.algo.name} model ({err})") from None

    def state_len(self, state: Any) -> int:
        return 1


class ScoreNode(NarrowNode):
    """Scores points with the latest model (or a fixed one when the model is not trained).

    ``keyed``: records are ``(key, features)`` and the key is kept.
    """

    op = "predict"

    def __init__(self, parent: Node, key: str, algo: Algorithm, model: Model, keyed: bool):
        super().__init__([parent], key)
        self.algo = algo
        self.model = model
        self.keyed = keyed

    def identity(self) -> dict[str, Any]:
        return {**self.algo.identity(), "keyed": self.keyed, "trained_by": self.reads_state_of,
                "model": None if self.reads_state_of else digest(self.model)}

    def param(self, scope: BatchScope) -> Any:
        return self.model

    def state_param(self, scope: BatchScope, states: list[Any]) -> Any:
        return states[0]

    def apply(self, records: list[Any], ctx: TaskContext, param: Any) -> list[Any]:
        from etlcore.ml import _records

        dim = self.algo.dim  # type: ignore[attr-defined]
        if self.keyed:
            x, keys = _records.split(records, dim, ctx, self.key, "key")
            return self.emit(param, x, keys, ctx)
        x, _ = _records.matrix(records, dim, ctx, self.key)
        return self.emit(param, x, None, ctx)

    def emit(self, model: Model, x: np.ndarray, keys: list[Any] | None,
             ctx: TaskContext) -> list[Any]:
        preds = self.algo.predict(model, x).tolist()
        return preds if keys is None else list(zip(keys, preds, strict=True))
