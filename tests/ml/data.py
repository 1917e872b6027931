"""Seeded batches shared by the ml tests (plain lists: what a source would deliver)."""

from __future__ import annotations

import numpy as np

TRUE_W = np.array([1.5, -2.0, 0.75])
TRUE_LOGIT = np.array([2.0, -1.0, 0.5])
CENTRES = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])


def regression_batches(n_batches: int, size: int, seed: int = 1) -> list[list[tuple[float, list[float]]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        x = rng.normal(size=(size, len(TRUE_W)))
        y = x @ TRUE_W + 0.1 * rng.normal(size=size)
        out.append([(float(label), row.tolist()) for label, row in zip(y, x, strict=True)])
    return out


def classification_batches(n_batches: int, size: int, seed: int = 2) -> list[list[tuple[float, list[float]]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        x = rng.normal(size=(size, len(TRUE_LOGIT)))
        p = 1.0 / (1.0 + np.exp(-(x @ TRUE_LOGIT)))
        y = (rng.random(size) < p).astype(float)
        out.append([(float(label), row.tolist()) for label, row in zip(y, x, strict=True)])
    return out


def cluster_batches(n_batches: int, size: int, seed: int = 3) -> list[list[list[float]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        which = rng.integers(0, len(CENTRES), size=size)
        x = CENTRES[which] + 0.5 * rng.normal(size=(size, CENTRES.shape[1]))
        out.append([row.tolist() for row in x])
    return out
