"""Streaming anomaly detection: per-key z-scores (running or EWMA) and KMeans distance.

Both return a stream of alert dicts, so alerts go to any sink (``.sink(...)``,
``.to(...)``) with its exactly-once commit. Alerts are stamped with the batch
time, so a replayed batch emits the same alerts.

- :func:`zscore_alerts`: ``(key, value)`` records; per key, the running mean
  and standard deviation (Welford's update; or an exponentially weighted mean
  and variance with ``alpha``), kept as keyed state partitioned by key. A value
  more than ``threshold`` standard deviations from the key's mean, as it stood
  before the value, is an alert once the key has ``min_count`` values. The
  value then joins the statistics like any other.
- :func:`kmeans_distance_alerts`: points farther than ``threshold`` from the
  nearest centre of a :class:`~etlcore.ml.StreamingKMeans` model (trained on
  the stream or fixed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from etlcore.errors import ConfigError
from etlcore.graph.base import TaskContext
from etlcore.ml.kmeans import StreamingKMeans, closest
from etlcore.ml.nodes import Model, ScoreNode
from etlcore.state import State

if TYPE_CHECKING:
    from etlcore.stream import Stream


class _ZScore:
    """The per-key update; a class (not a closure) so its parameters are in the fingerprint."""

    def __init__(self, threshold: float, min_count: int, alpha: float | None):
        self.threshold = threshold
        self.min_count = min_count
        self.alpha = alpha

    def __call__(self, key: Any, value: Any, state: State) -> Any:
        try:
            x = float(value)
        except (TypeError, ValueError):
            return ("bad", key, value)
        if not math.isfinite(x):
            return ("bad", key, value)
        n, mean, spread = state.get() if state.exists() else (0, 0.0, 0.0)
        if self.alpha is None:  # Welford: spread is the sum of squared deviations
            var = spread / (n - 1) if n > 1 else 0.0
            n1 = n + 1
            delta = x - mean
            new_mean = mean + delta / n1
            new_spread = spread + delta * (x - new_mean)
        else:  # EWMA: spread is the variance
            var = spread
            n1 = n + 1
            delta = x - mean
            new_mean = x if n == 0 else mean + self.alpha * delta
            new_spread = 0.0 if n == 0 else (1.0 - self.alpha) * (spread + self.alpha * delta * delta)
        state.update((n1, new_mean, new_spread))
        std = math.sqrt(var)
        if n < self.min_count:
            return None
        score = (0.0 if delta == 0.0 else math.inf) if std == 0.0 else delta / std
        if abs(score) <= self.threshold:
            return None
        return {"key": key, "value": x, "mean": mean, "std": std, "score": score}


def _stamp(records: Iterable[Any], ctx: TaskContext) -> list[Any]:
    out = []
    when = ctx.info.batch_time
    for r in records:
        if r is None:
            continue
        if isinstance(r, tuple):  # ("bad", key, value)
            ctx.dead_letter((r[1], r[2]), "zscore: value is not a finite number", "zscore_alerts")
            continue
        r["batch_time"] = when
        out.append(r)
    return out


def zscore_alerts(stream: Stream, threshold: float = 3.0, *, min_count: int = 10,
                  alpha: float | None = None, timeout: Any = None,
                  num_partitions: int | None = None) -> Stream:
    """Alerts for ``(key, value)`` records whose value is unusual for its key (see module doc)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
            0 < threshold < math.inf):
        raise ConfigError("zscore_alerts.threshold", "a positive number", threshold)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 2:
        raise ConfigError("zscore_alerts.min_count", "an integer of at least 2", min_count)
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                              or not 0 < alpha <= 1):
        raise ConfigError("zscore_alerts.alpha", "a number in (0, 1], or None for all history",
                          alpha)
    scored = stream.map_with_state(_ZScore(float(threshold), min_count, alpha), timeout=timeout,
                                   num_partitions=num_partitions)
    return scored._narrow("zscore_alerts", _stamp)


class DistanceNode(ScoreNode):
    """KMeans scoring that emits only the points far from every centre, as alerts."""

    op = "kmeans_distance"

    def __init__(self, *args: Any, threshold: float):
        super().__init__(*args)
        self.threshold = threshold

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "threshold": self.threshold}

    def emit(self, model: Model, x: np.ndarray, keys: list[Any] | None,
             ctx: TaskContext) -> list[Any]:
        if len(x) == 0:
            return []
        idx, d2 = closest(model["centers"], x)
        dist = np.sqrt(d2)
        out = []
        for i in np.flatnonzero(dist > self.threshold):
            alert = {"point": x[i].tolist(), "cluster": int(idx[i]), "distance": float(dist[i]),
                     "batch_time": ctx.info.batch_time}
            if keys is not None:
                alert["key"] = keys[i]
            out.append(alert)
        return out


def kmeans_distance_alerts(model: StreamingKMeans, stream: Stream, threshold: float, *,
                           keyed: bool = False) -> Stream:
    """Alerts for points farther than ``threshold`` from every centre of ``model``.

    ``keyed``: records are ``(key, point)`` and alerts carry the key. Scores with
    the model as it stood before the batch, like ``predict_on``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
            0 < threshold < math.inf):
        raise ConfigError("kmeans_distance_alerts.threshold", "a positive distance", threshold)
    return model._score(stream, keyed, DistanceNode, threshold=float(threshold))
