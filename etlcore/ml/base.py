"""What every streaming model offers: train_on, predict_on, predict_on_values, latest_model.

A model object is declared on the driver, like MLlib's ``StreamingLinearAlgorithm``:
``train_on(stream)`` adds the training operator to that stream's job,
``predict_on`` / ``predict_on_values`` add scoring operators that read the
model the training operator keeps. Without ``train_on`` the model only
scores, with the weights it was given (a model trained offline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etlcore.errors import ConfigError
from etlcore.ml.nodes import Algorithm, Model, ScoreNode, TrainNode

if TYPE_CHECKING:
    from etlcore.context import StreamingContext
    from etlcore.stream import Stream


def _trained(batch_id: int, records: list[Any]) -> None:
    """The output that makes a training operator run every batch (Spark's foreachRDD)."""


class StreamingModel:
    """Shared plumbing; subclasses say how to build their :class:`Algorithm`."""

    kind = "model"

    def __init__(self) -> None:
        self._algo: Algorithm | None = None
        self._ctx: StreamingContext | None = None
        self._train_key: str | None = None
        self._scorers: list[ScoreNode] = []

    # -- subclasses ---------------------------------------------------------------
    def _build(self) -> Algorithm:
        raise NotImplementedError

    def _wrap(self, model: Model) -> Any:
        """The public snapshot of a model state (weights and intercept, or centres)."""
        raise NotImplementedError

    def _check_unfrozen(self, what: str) -> None:
        if self._algo is not None:
            raise ConfigError(what, "to be set before train_on / predict_on use the model",
                              has_value=False)

    def _algorithm(self) -> Algorithm:
        if self._algo is None:
            self._algo = self._build()
        return self._algo

    # -- the API --------------------------------------------------------------------
    def train_on(self, stream: Stream) -> None:
        """Update the model every batch from ``stream`` (labelled points, or points)."""
        if self._train_key is not None:
            raise ConfigError(f"{self.kind}.train_on", "one training stream per model (union "
                              "the streams first)", has_value=False)
        algo = self._algorithm()
        graph = stream.ctx._graph
        node = TrainNode(stream.node, graph.new_key("train"), algo)
        graph.add(node)
        graph.add_foreach(node, _trained)
        self._ctx, self._train_key = stream.ctx, node.key
        for scorer in self._scorers:
            if scorer in stream.ctx._graph.nodes:
                scorer.reads_state_of = node.key

    def _score(self, stream: Stream, keyed: bool, cls: type[ScoreNode] = ScoreNode,
               **extra: Any) -> Stream:
        from etlcore.stream import Stream

        algo = self._algorithm()
        graph = stream.ctx._graph
        node = cls(stream.node, graph.new_key("predict"), algo, algo.initial(), keyed, **extra)
        if self._train_key is not None and stream.ctx is self._ctx:
            node.reads_state_of = self._train_key
        self._scorers.append(node)
        return Stream(stream.ctx, graph.add(node))

    def predict_on(self, stream: Stream) -> Stream:
        """A prediction per point, with the model as it stood before this batch's training."""
        return self._score(stream, keyed=False)

    def predict_on_values(self, stream: Stream) -> Stream:
        """``(key, prediction)`` per ``(key, point)``: the key travels with its point."""
        return self._score(stream, keyed=True)

    def latest_model(self) -> Any:
        """The model after the last batch that ran (the initial model before any)."""
        algo = self._algorithm()
        scheduler = self._ctx._scheduler if self._ctx is not None else None
        executor = scheduler.executor if scheduler is not None else None
        if executor is None or self._train_key not in executor.states.nodes:
            return self._wrap(algo.initial())
        return self._wrap(executor.states.live(self._train_key)[0])
