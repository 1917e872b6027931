"""Streaming linear and logistic regression by SGD, with MLlib's update rules.

Every batch runs ``num_iterations`` gradient steps from the current weights,
as ``StreamingLinearRegressionWithSGD`` / ``StreamingLogisticRegressionWithSGD``
do (``GradientDescent.runMiniBatchSGD``): step ``i`` (from 1 in every batch)
moves by ``step_size / sqrt(i)`` times the mean gradient over the sampled
points, L2 regularization shrinks the weights first by ``1 - step * reg_param``
(``SquaredL2Updater``), and the batch stops early once a step changes the
weights by less than ``convergence_tol * max(|w|, 1)``. An empty batch leaves
the model as it was.

Where the points go: least squares has a gradient linear in the weights, so
every map task sends ``X'X``, ``X'y`` and its count (one set per iteration when
``mini_batch_fraction < 1``) and the reduce side runs all iterations exactly
from those. The logistic gradient is not linear: with ``num_iterations=1``
(this class's default; one SGD step per batch) each map task sends the
gradient sum at the current weights; with more iterations each step needs the
previous one's weights, so the batch's points travel, as arrays, to the one
training task (MLlib instead runs one Spark job per iteration).

With ``intercept=True`` the intercept is the last weight (MLlib's
``appendBias``) and carries over from batch to batch; MLlib's streaming
models cannot fit one (pyspark passes the intercept's value as the flag, and
``GeneralizedLinearAlgorithm`` would restart it at 1.0 every batch).

Sampling (``mini_batch_fraction < 1``) is Bernoulli per point, seeded by the
seed, the batch, the iteration and the task's points, so a replayed batch
draws the same sample; it is not Spark's sampler, so only fraction 1.0
compares number for number with MLlib.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from etlcore.errors import ConfigError
from etlcore.graph.base import TaskContext
from etlcore.ml import _records
from etlcore.ml.base import StreamingModel
from etlcore.ml.nodes import Model


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


class LinearSGD:
    """Least squares or logistic loss; weights keep the intercept last when fitted."""

    def __init__(self, loss: str, dim: int, intercept: bool, weights: np.ndarray,
                 step_size: float, num_iterations: int, mini_batch_fraction: float,
                 reg_param: float, convergence_tol: float, seed: int, threshold: float | None):
        self.name = "linear regression" if loss == "least_squares" else "logistic regression"
        self.loss = loss
        self.dim = dim
        self.intercept = intercept
        self.weights = weights
        self.step_size = step_size
        self.num_iterations = num_iterations
        self.fraction = mini_batch_fraction
        self.reg_param = reg_param
        self.tol = convergence_tol
        self.seed = seed
        self.threshold = threshold

    def identity(self) -> dict[str, Any]:
        return {"loss": self.loss, "dim": self.dim, "intercept": self.intercept,
                "step_size": self.step_size, "num_iterations": self.num_iterations,
                "mini_batch_fraction": self.fraction, "reg_param": self.reg_param,
                "convergence_tol": self.tol, "seed": self.seed, "threshold": self.threshold}

    def initial(self) -> Model:
        return {"weights": self.weights}

    def check(self, data: Any) -> Model:
        w = np.asarray(data["weights"], dtype=np.float64)
        if w.shape != self.weights.shape:
            raise ValueError(f"weights of shape {w.shape}, the job has {self.weights.shape}")
        return {"weights": w}

    # -- map side -----------------------------------------------------------------
    def _design(self, x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((x.shape[0], 1))]) if self.intercept else x

    def parse(self, records: list[Any], ctx: TaskContext, stage: str) -> tuple[np.ndarray, Any]:
        kind = "binary" if self.loss == "logistic" else "real"
        x, labels = _records.split(records, self.dim, ctx, stage, "label", kind)
        return self._design(x), labels

    def _sample(self, n: int, batch_id: int, it: int, salt: int) -> np.ndarray | None:
        """The points step ``it`` uses (None: all of them)."""
        if self.fraction >= 1.0:
            return None
        rng = np.random.default_rng([self.seed, batch_id, it, salt])
        return rng.random(n) < self.fraction

    def partial(self, x: np.ndarray, y: np.ndarray, model: Model, batch_id: int) -> Any:
        salt = zlib.crc32(x.tobytes()) ^ zlib.crc32(y.tobytes())
        if self.loss == "least_squares":
            steps = 1 if self.fraction >= 1.0 else self.num_iterations
            p = x.shape[1]
            gram, xty, count = np.zeros((steps, p, p)), np.zeros((steps, p)), np.zeros(steps)
            for j in range(steps):
                mask = self._sample(len(y), batch_id, j + 1, salt)
                xs, ys = (x, y) if mask is None else (x[mask], y[mask])
                gram[j], xty[j], count[j] = xs.T @ xs, xs.T @ ys, len(ys)
            return ("moments", gram, xty, count)
        if self.num_iterations == 1:
            mask = self._sample(len(y), batch_id, 1, salt)
            xs, ys = (x, y) if mask is None else (x[mask], y[mask])
            grad = xs.T @ (_sigmoid(xs @ model["weights"]) - ys)
            return ("gradient", grad, np.array([float(len(ys))]))
        return ("points", x, y)

    # -- reduce side ------------------------------------------------------------------
    def merge(self, partials: list[Any]) -> Any:
        if not partials:
            return None
        kind = partials[0][0]
        if kind == "points":
            return ("points", np.vstack([p[1] for p in partials]),
                    np.concatenate([p[2] for p in partials]))
        return (kind, *[sum(p[i] for p in partials) for i in range(1, len(partials[0]))])

    def _gradients(self, stats: Any, batch_id: int) -> Any:
        """Yields ``(i, count)`` and receives the weights, answering with the gradient sum."""
        kind = stats[0]
        if kind == "moments":
            _, gram, xty, count = stats
            for i in range(1, self.num_iterations + 1):
                j = 0 if len(count) == 1 else i - 1
                yield i, count[j], lambda w, j=j: gram[j] @ w - xty[j]
        elif kind == "gradient":
            yield 1, stats[2][0], lambda w: stats[1]
        else:
            _, x, y = stats
            salt = zlib.crc32(x.tobytes()) ^ zlib.crc32(y.tobytes())
            for i in range(1, self.num_iterations + 1):
                mask = self._sample(len(y), batch_id, i, salt)
                xs, ys = (x, y) if mask is None else (x[mask], y[mask])
                yield i, len(ys), lambda w, xs=xs, ys=ys: xs.T @ (_sigmoid(xs @ w) - ys)

    def update(self, model: Model, stats: Any, batch_id: int) -> Model:
        if stats is None:
            return model
        total = stats[3].max() if stats[0] == "moments" else (
            stats[2][0] if stats[0] == "gradient" else len(stats[2]))
        if total == 0:
            return model  # an empty batch: MLlib skips it
        w = model["weights"]
        previous = None
        for i, count, gradient in self._gradients(stats, batch_id):
            if count == 0:
                continue
            step = self.step_size / np.sqrt(i)
            w = w * (1.0 - step * self.reg_param) - step * (gradient(w) / count)
            if previous is not None and (np.linalg.norm(previous - w)
                                         < self.tol * max(np.linalg.norm(w), 1.0)):
                break
            previous = w
        return {"weights": w}

    def predict(self, model: Model, x: np.ndarray) -> np.ndarray:
        margin = self._design(x) @ model["weights"]
        if self.loss == "least_squares":
            return margin
        prob = _sigmoid(margin)
        return prob if self.threshold is None else (prob > self.threshold).astype(np.int64)


class LinearModel:
    """A snapshot of a linear or logistic model: ``weights``, ``intercept``, ``predict``."""

    def __init__(self, weights: np.ndarray, intercept: float, loss: str,
                 threshold: float | None = None):
        self.weights = weights
        self.intercept = intercept
        self.loss = loss
        self.threshold = threshold

    def predict(self, x: Any) -> np.ndarray:
        margin = np.asarray(x, dtype=np.float64) @ self.weights + self.intercept
        if self.loss == "least_squares":
            return margin
        prob = _sigmoid(margin)
        return prob if self.threshold is None else (prob > self.threshold).astype(np.int64)

    def save(self, path: str | Path) -> None:
        """An ``.npz`` that ``from_npz`` loads (plain arrays, no pickle)."""
        np.savez(path, weights=self.weights, intercept=np.float64(self.intercept))

    def __repr__(self) -> str:
        return f"LinearModel(weights={self.weights!r}, intercept={self.intercept!r})"


def _positive(value: Any, key: str, *, integer: bool = False, upper: float | None = None,
              zero: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not np.isfinite(value) or value < 0 or (
            value == 0 and not zero) or (upper is not None and value > upper):
        what = "a non-negative" if zero else "a positive"
        raise ConfigError(key, f"{what} {'integer' if integer else 'number'}"
                          + (f" at most {upper:g}" if upper is not None else ""), value)
    return value


class _StreamingLinear(StreamingModel):
    loss = "least_squares"

    def __init__(self, step_size: float = 0.1, num_iterations: int = 50,
                 mini_batch_fraction: float = 1.0, reg_param: float = 0.0,
                 convergence_tol: float = 0.001, *, intercept: bool = False,
                 initial_weights: Any = None, initial_intercept: float = 0.0,
                 num_features: int | None = None, seed: int = 42):
        super().__init__()
        k = self.kind
        self.step_size = float(_positive(step_size, f"{k}.step_size"))
        self.num_iterations = _positive(num_iterations, f"{k}.num_iterations", integer=True)
        self.mini_batch_fraction = float(_positive(mini_batch_fraction,
                                                   f"{k}.mini_batch_fraction", upper=1.0))
        self.reg_param = float(_positive(reg_param, f"{k}.reg_param", zero=True))
        self.convergence_tol = float(_positive(convergence_tol, f"{k}.convergence_tol",
                                               zero=True))
        self.intercept = bool(intercept)
        self.seed = int(seed)
        self.threshold: float | None = None
        self._weights: np.ndarray | None = None
        self._intercept = 0.0
        if initial_weights is not None:
            self.set_initial_weights(initial_weights, initial_intercept)
        elif num_features is not None:
            n = _positive(num_features, f"{k}.num_features", integer=True)
            self.set_initial_weights(np.zeros(n), initial_intercept)

    def set_initial_weights(self, weights: Any, intercept: float = 0.0) -> _StreamingLinear:
        """Start from these weights (MLlib's ``setInitialWeights``); a nonzero intercept fits one."""
        self._check_unfrozen(f"{self.kind}.initial_weights")
        try:
            w = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.kind}.initial_weights", "a vector of numbers",
                              weights) from None
        if w.ndim != 1 or w.size == 0 or not np.isfinite(w).all():
            raise ConfigError(f"{self.kind}.initial_weights", "a non-empty vector of finite "
                              "numbers", weights)
        self._weights, self._intercept = w, float(intercept)
        if self._intercept != 0.0:
            self.intercept = True
        return self

    @classmethod
    def from_npz(cls, path: str | Path, **params: Any) -> Any:
        """A model whose weights (and ``intercept``) come from ``np.savez`` / ``LinearModel.save``."""
        with np.load(path, allow_pickle=False) as data:
            if "weights" not in data:
                raise ConfigError(f"{cls.kind}.from_npz", f"an .npz with a 'weights' array "
                                  f"(it has {sorted(data.files)})", str(path))
            weights = data["weights"]
            intercept = float(data["intercept"]) if "intercept" in data else 0.0
        return cls(initial_weights=weights, initial_intercept=intercept, **params)

    @classmethod
    def from_sklearn(cls, estimator: Any, **params: Any) -> Any:
        """A model starting from a fitted scikit-learn linear estimator's ``coef_``/``intercept_``."""
        coef = getattr(estimator, "coef_", None)
        if coef is None:
            raise ConfigError(f"{cls.kind}.from_sklearn", "a fitted estimator with coef_",
                              type(estimator).__name__)
        coef = np.asarray(coef, dtype=np.float64)
        if coef.ndim == 2 and coef.shape[0] != 1:
            raise ConfigError(f"{cls.kind}.from_sklearn", "a single-output (binary) estimator",
                              f"coef_ of shape {coef.shape}")
        intercept = np.ravel(np.asarray(getattr(estimator, "intercept_", 0.0), dtype=np.float64))
        fitted = bool(getattr(estimator, "fit_intercept", intercept.size and intercept[0] != 0))
        params.setdefault("intercept", fitted)
        return cls(initial_weights=coef.ravel(),
                   initial_intercept=float(intercept[0]) if intercept.size else 0.0, **params)

    def _build(self) -> LinearSGD:
        if self._weights is None:
            raise ConfigError(f"{self.kind}.initial_weights", "initial weights (or num_features) "
                              "before the model is used, as MLlib requires", has_value=False)
        w = np.append(self._weights, self._intercept) if self.intercept else self._weights
        return LinearSGD(self.loss, len(self._weights), self.intercept, w, self.step_size,
                         self.num_iterations, self.mini_batch_fraction, self.reg_param,
                         self.convergence_tol, self.seed, self.threshold)

    def _wrap(self, model: Model) -> LinearModel:
        w = model["weights"]
        if self.intercept:
            return LinearModel(w[:-1].copy(), float(w[-1]), self.loss, self.threshold)
        return LinearModel(w.copy(), 0.0, self.loss, self.threshold)


class StreamingLinearRegression(_StreamingLinear):
    """Least squares by SGD on ``(label, features)`` points (MLlib's defaults)."""

    kind = "StreamingLinearRegression"


class StreamingLogisticRegression(_StreamingLinear):
    """Binary logistic regression by SGD on ``(0|1, features)`` points.

    ``threshold``: predictions are 1 when the probability exceeds it (MLlib's
    0.5); None predicts the probability (MLlib's ``clearThreshold``).
    ``num_iterations`` defaults to 1 (MLlib: 50), which trains from map-side
    gradient sums; see the module docstring.
    """

    kind = "StreamingLogisticRegression"
    loss = "logistic"

    def __init__(self, step_size: float = 0.1, num_iterations: int = 1,
                 mini_batch_fraction: float = 1.0, reg_param: float = 0.0,
                 convergence_tol: float = 0.001, *, threshold: float | None = 0.5,
                 **kwargs: Any):
        super().__init__(step_size, num_iterations, mini_batch_fraction, reg_param,
                         convergence_tol, **kwargs)
        if threshold is not None:
            threshold = float(_positive(threshold, f"{self.kind}.threshold", upper=1.0,
                                        zero=True))
        self.threshold = threshold
