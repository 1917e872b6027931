"""Streaming KMeans with MLlib's forgetful update (``StreamingKMeansModel.update``).

Every batch, each map task assigns its points to the nearest centre with the
current model and sends per-cluster sums and counts (k x d numbers, however
many points it read). The reduce side merges them, discounts the cluster
weights by ``decay_factor`` (``time_unit="batches"``) or ``decay_factor ** n``
for ``n`` new points (``"points"``), and moves each centre that received
points: ``c <- (1 - l) c + (l / m) sum`` with ``l = m / (weight + m)``.
A cluster whose weight falls below 1e-8 of the largest is revived by
splitting the largest, as MLlib does. ``half_life`` sets the decay so that
past data counts half after that many batches or points. Empty batches still
decay the weights (MLlib's ``foreachRDD`` runs for them too).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from etlcore.errors import ConfigError
from etlcore.graph.base import TaskContext
from etlcore.ml import _records
from etlcore.ml.base import StreamingModel
from etlcore.ml.nodes import Model

BATCHES, POINTS = "batches", "points"


_CHUNK = 1 << 22  # differences held at once (32 MB of float64), however large the batch


def closest(centers: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre for every row (ties: the lowest index) and its squared distance.

    Exact differences, not ``|x|^2 - 2 x.c + |c|^2``, which cancels badly for
    points far from the origin; computed in chunks of rows to bound memory.
    """
    k, d = centers.shape
    rows = max(1, _CHUNK // max(1, k * d))
    idx = np.empty(len(x), dtype=np.int64)
    best = np.empty(len(x))
    for start in range(0, len(x), rows):
        part = x[start:start + rows]
        d2 = ((part[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        i = d2.argmin(axis=1)
        idx[start:start + rows] = i
        best[start:start + rows] = d2[np.arange(len(i)), i]
    return idx, best


class KMeansUpdate:
    name = "kmeans"

    def __init__(self, centers: np.ndarray, weights: np.ndarray, decay_factor: float,
                 time_unit: str):
        self.centers = centers
        self.weights = weights
        self.dim = centers.shape[1]
        self.decay_factor = decay_factor
        self.time_unit = time_unit

    def identity(self) -> dict[str, Any]:
        return {"k": len(self.centers), "dim": self.dim, "decay_factor": self.decay_factor,
                "time_unit": self.time_unit}

    def initial(self) -> Model:
        return {"centers": self.centers, "weights": self.weights}

    def check(self, data: Any) -> Model:
        centers = np.asarray(data["centers"], dtype=np.float64)
        weights = np.asarray(data["weights"], dtype=np.float64)
        if centers.shape != self.centers.shape or weights.shape != self.weights.shape:
            raise ValueError(f"centres {centers.shape}, the job has {self.centers.shape}")
        return {"centers": centers, "weights": weights}

    def parse(self, records: list[Any], ctx: TaskContext, stage: str) -> tuple[np.ndarray, Any]:
        return _records.matrix(records, self.dim, ctx, stage)[0], None

    def partial(self, x: np.ndarray, y: Any, model: Model, batch_id: int) -> Any:
        k = len(self.centers)
        if len(x) == 0:
            return np.zeros((k, self.dim)), np.zeros(k)
        idx, _ = closest(model["centers"], x)
        onehot = np.zeros((len(x), k))
        onehot[np.arange(len(x)), idx] = 1.0
        return onehot.T @ x, np.bincount(idx, minlength=k).astype(np.float64)

    def merge(self, partials: list[Any]) -> Any:
        k = len(self.centers)
        sums, counts = np.zeros((k, self.dim)), np.zeros(k)
        for s, c in partials:
            sums += s
            counts += c
        return sums, counts

    def update(self, model: Model, stats: Any, batch_id: int) -> Model:
        sums, counts = stats
        centers = model["centers"].copy()
        if self.time_unit == BATCHES:
            discount = self.decay_factor
        else:
            discount = math.pow(self.decay_factor, counts.sum())
        weights = model["weights"] * discount
        for label in np.flatnonzero(counts):
            count = counts[label]
            updated = weights[label] + count
            lam = count / max(updated, 1e-16)
            weights[label] = updated
            centers[label] = centers[label] * (1.0 - lam) + sums[label] * (lam / count)
        largest, smallest = int(np.argmax(weights)), int(np.argmin(weights))
        if weights[smallest] < 1e-8 * weights[largest]:
            weight = (weights[largest] + weights[smallest]) / 2.0
            weights[largest] = weights[smallest] = weight
            x = centers[largest].copy()
            p = 1e-14 * np.maximum(np.abs(x), 1.0)
            centers[largest], centers[smallest] = x + p, x - p
        return {"centers": centers, "weights": weights}

    def predict(self, model: Model, x: np.ndarray) -> np.ndarray:
        return closest(model["centers"], x)[0]


class KMeansModel:
    """A snapshot: ``centers`` (k x d), ``weights`` (k), ``predict``, ``save``."""

    def __init__(self, centers: np.ndarray, weights: np.ndarray):
        self.centers = centers
        self.weights = weights

    def predict(self, x: Any) -> np.ndarray:
        return closest(self.centers, np.atleast_2d(np.asarray(x, dtype=np.float64)))[0]

    def save(self, path: str | Path) -> None:
        np.savez(path, centers=self.centers, weights=self.weights)

    def __repr__(self) -> str:
        return f"KMeansModel(centers={self.centers!r}, weights={self.weights!r})"


class StreamingKMeans(StreamingModel):
    """KMeans on a stream of points; ``decay_factor`` 1.0 remembers everything, 0.0 only now."""

    kind = "StreamingKMeans"

    def __init__(self, k: int = 2, decay_factor: float = 1.0, time_unit: str = BATCHES, *,
                 half_life: float | None = None, initial_centers: Any = None,
                 initial_weights: Any = None):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError("StreamingKMeans.k", "a positive integer", k)
        self.k = k
        self._centers: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self.time_unit = BATCHES
        self.decay_factor = 1.0
        if half_life is not None:
            self.set_half_life(half_life, time_unit)
        else:
            self.set_decay_factor(decay_factor)
            self._set_time_unit(time_unit)
        if initial_centers is not None:
            self.set_initial_centers(initial_centers, initial_weights)

    def _set_time_unit(self, time_unit: str) -> None:
        if time_unit not in (BATCHES, POINTS):
            raise ConfigError("StreamingKMeans.time_unit", "'batches' or 'points'", time_unit)
        self.time_unit = time_unit

    def set_decay_factor(self, decay_factor: float) -> StreamingKMeans:
        self._check_unfrozen("StreamingKMeans.decay_factor")
        if isinstance(decay_factor, bool) or not isinstance(decay_factor, (int, float)) or not (
                0.0 <= decay_factor <= 1.0):
            raise ConfigError("StreamingKMeans.decay_factor", "a number from 0 to 1",
                              decay_factor)
        self.decay_factor = float(decay_factor)
        return self

    def set_half_life(self, half_life: float, time_unit: str = BATCHES) -> StreamingKMeans:
        """Past data counts half after ``half_life`` batches or points (MLlib's setHalfLife)."""
        self._check_unfrozen("StreamingKMeans.half_life")
        if isinstance(half_life, bool) or not isinstance(half_life, (int, float)) or not (
                0 < half_life < math.inf):
            raise ConfigError("StreamingKMeans.half_life", "a positive number", half_life)
        self._set_time_unit(time_unit)
        self.decay_factor = math.exp(math.log(0.5) / half_life)
        return self

    def set_initial_centers(self, centers: Any, weights: Any = None) -> StreamingKMeans:
        self._check_unfrozen("StreamingKMeans.initial_centers")
        try:
            c = np.array(centers, dtype=np.float64)
            w = np.ones(len(c)) if weights is None else np.array(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError("StreamingKMeans.initial_centers", "a k x d array of numbers",
                              centers) from None
        if c.ndim != 2 or c.shape[0] != self.k or c.shape[1] == 0 or not np.isfinite(c).all():
            raise ConfigError("StreamingKMeans.initial_centers",
                              f"{self.k} centres of equal, non-zero length", centers)
        if w.shape != (self.k,) or (w < 0).any() or not np.isfinite(w).all():
            raise ConfigError("StreamingKMeans.initial_weights",
                              f"{self.k} non-negative weights", weights)
        self._centers, self._weights = c, w
        return self

    def set_random_centers(self, dim: int, weight: float, seed: int = 0) -> StreamingKMeans:
        """Gaussian centres from numpy's generator (not MLlib's: different numbers, same idea)."""
        rng = np.random.default_rng(seed)
        return self.set_initial_centers(rng.standard_normal((self.k, dim)),
                                        np.full(self.k, float(weight)))

    @classmethod
    def from_npz(cls, path: str | Path, **params: Any) -> StreamingKMeans:
        with np.load(path, allow_pickle=False) as data:
            if "centers" not in data:
                raise ConfigError("StreamingKMeans.from_npz", "an .npz with a 'centers' array "
                                  f"(it has {sorted(data.files)})", str(path))
            centers = data["centers"]
            weights = data.get("weights")
        return cls(k=len(centers), initial_centers=centers, initial_weights=weights, **params)

    @classmethod
    def from_sklearn(cls, estimator: Any, weight: float | None = None,
                     **params: Any) -> StreamingKMeans:
        """Start from a fitted scikit-learn KMeans: its centres, weighted by its cluster sizes.

        ``weight`` gives every centre that weight instead (how much the offline
        fit counts against new points).
        """
        centers = getattr(estimator, "cluster_centers_", None)
        if centers is None:
            raise ConfigError("StreamingKMeans.from_sklearn", "a fitted estimator with "
                              "cluster_centers_", type(estimator).__name__)
        k = len(centers)
        labels = getattr(estimator, "labels_", None)
        if weight is not None:
            weights = np.full(k, float(weight))
        elif labels is not None:
            weights = np.bincount(np.asarray(labels), minlength=k).astype(np.float64)
        else:
            weights = np.ones(k)
        return cls(k=k, initial_centers=centers, initial_weights=weights, **params)

    def _build(self) -> KMeansUpdate:
        if self._centers is None or self._weights is None:
            raise ConfigError("StreamingKMeans.initial_centers", "initial centres "
                              "(set_initial_centers or set_random_centers) before the model "
                              "is used", has_value=False)
        return KMeansUpdate(self._centers, self._weights, self.decay_factor, self.time_unit)

    def _wrap(self, model: Model) -> KMeansModel:
        return KMeansModel(model["centers"].copy(), model["weights"].copy())
