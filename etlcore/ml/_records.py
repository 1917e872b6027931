"""Records in, numpy arrays out: the one place where a batch's points are checked.

A batch is converted with one ``np.asarray`` call when every record is well
formed (the common case); otherwise each record is checked on its own and the
bad ones go to the dead letters with the reason, and the job goes on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from etlcore.graph.base import TaskContext


def _vector(features: Any, dim: int) -> np.ndarray:
    vec = np.asarray(features, dtype=np.float64)
    if vec.ndim != 1 or vec.shape[0] != dim:
        raise ValueError(f"expected {dim} features, got shape {vec.shape}")
    if not np.isfinite(vec).all():
        raise ValueError("features must be finite numbers")
    return vec


def _fast(rows: list[Any], dim: int) -> np.ndarray | None:
    try:
        x = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if x.ndim != 2 or x.shape[1] != dim or not np.isfinite(x).all():
        return None
    return x


def _labels(firsts: list[Any], kind: str | None) -> Any:
    """All labels at once (None: any key, kept as is); ValueError if one is bad."""
    if kind is None:
        return firsts
    y = np.asarray(firsts, dtype=np.float64)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise ValueError("labels")
    if kind == "binary" and not ((y == 0.0) | (y == 1.0)).all():
        raise ValueError("labels")
    return y


def split(records: list[Any], dim: int, ctx: TaskContext, stage: str, what: str,
          label: str | None = None) -> tuple[np.ndarray, Any]:
    """``(first, features)`` pairs -> ``(X, firsts)``; bad pairs become dead letters.

    ``first`` is a key (``label=None``: kept as is, a list) or a label
    (``"real"`` or ``"binary"``: checked, a float array).
    """
    if not records:
        return np.empty((0, dim)), _labels([], label)
    try:
        if set(map(len, records)) == {2}:
            firsts, rows = zip(*records, strict=True)
            x = _fast(list(rows), dim)
            if x is not None:
                return x, _labels(list(firsts), label)
    except (TypeError, ValueError):
        pass
    check = {None: None, "real": real_label, "binary": binary_label}[label]
    xs, keep = [], []
    for r in records:
        try:
            if not isinstance(r, (tuple, list)) or len(r) != 2:
                raise ValueError(f"expected a ({what}, features) pair")
            first = check(r[0]) if check is not None else r[0]
            xs.append(_vector(r[1], dim))
            keep.append(first)
        except (TypeError, ValueError) as err:
            ctx.dead_letter(r, f"{stage}: {err}", stage)
    return (np.vstack(xs) if xs else np.empty((0, dim))), _labels(keep, label)


def matrix(records: list[Any], dim: int, ctx: TaskContext, stage: str) -> tuple[np.ndarray, list[Any]]:
    """Feature vectors -> ``(X, kept records)``; bad vectors become dead letters."""
    if not records:
        return np.empty((0, dim)), []
    x = _fast(records, dim)
    if x is not None:
        return x, records
    rows, keep = [], []
    for r in records:
        try:
            rows.append(_vector(r, dim))
            keep.append(r)
        except (TypeError, ValueError) as err:
            ctx.dead_letter(r, f"{stage}: {err}", stage)
    return (np.vstack(rows) if rows else np.empty((0, dim))), keep


def real_label(value: Any) -> float:
    label = float(value)
    if not np.isfinite(label):
        raise ValueError(f"label must be a finite number, got {value!r}")
    return label


def binary_label(value: Any) -> float:
    label = float(value)
    if label not in (0.0, 1.0):
        raise ValueError(f"label must be 0 or 1, got {value!r}")
    return label
