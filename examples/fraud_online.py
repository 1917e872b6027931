"""Fraud alerts with a model trained offline that keeps learning: `etlcore run examples/fraud_online.py --until-idle`.

The seeds' case, "anomaly/fraud detection with online learning": card
transactions arrive (here a seeded stream of 30 batches, 1% malformed);
each is turned into features and scored by a logistic regression trained
offline on last month's history (``etlcore-examples/fraud_online/model.npz``,
fitted with numpy on the first run). A transaction whose fraud probability
exceeds 0.5 is an alert, upserted into SQLite (``alerts`` in
``etlcore-examples/fraud_online/fraud.db``; any sink would do). Labelled
transactions (chargebacks, here the same stream's ``is_fraud``) keep
training the model every batch, so it follows fraud as it drifts: the
fraudsters here stop using foreign cards over the month, which the
offline model counted on. A per-card z-score on
the amount is a second, model-free detector (``amount_alerts``). Malformed
transactions go to the dead letters with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from etlcore import StreamingContext
from etlcore.ml import StreamingLogisticRegression
from etlcore.ml.anomaly import zscore_alerts

OUT = Path("etlcore-examples") / "fraud_online"
BATCHES, PER_BATCH, CARDS = 30, 400, 200


def transactions(n_batches: int, size: int, seed: int, drift: float = 0.0) -> list[list[Any]]:
    """Batches of card transactions; 3% fraud: large, at night, abroad, risky merchants."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n_batches):
        batch = []
        for i in range(size):
            fraud = rng.random() < 0.03
            shift = drift * b / max(n_batches - 1, 1)
            tx = {
                "id": f"{seed}-{b}-{i}",
                "card": f"c{rng.integers(CARDS):03d}",
                "amount": round(float(rng.lognormal(3.0 + (1.2 if fraud else 0.0), 0.6)), 2),
                "hour": int(rng.integers(0, 6) if fraud and rng.random() < 0.7
                            else rng.integers(0, 24)),
                "foreign": bool(rng.random() < (0.6 - 0.55 * shift if fraud else 0.05)),
                "merchant_risk": round(float(rng.beta(5, 2) if fraud else rng.beta(2, 5)), 3),
                "is_fraud": int(fraud),
            }
            if rng.random() < 0.01:
                tx["amount"] = "n/a"  # malformed: goes to the dead letters
            batch.append(tx)
        out.append(batch)
    return out


def features(tx: dict[str, Any]) -> list[float]:
    """What the model sees; raises on a malformed transaction (-> dead letters)."""
    amount = float(tx["amount"])
    if not amount > 0:
        raise ValueError(f"amount must be positive, got {amount}")
    night = 1.0 if tx["hour"] < 6 else 0.0
    return [math.log(amount) - 3.0, night, float(tx["foreign"]), tx["merchant_risk"]]


def train_offline(path: Path) -> None:
    """Fit on last month's history with plain numpy (any offline tool would do) and save."""
    history = [tx for batch in transactions(20, 500, seed=1) for tx in batch
               if not isinstance(tx["amount"], str)]
    x = np.array([features(tx) for tx in history])
    y = np.array([tx["is_fraud"] for tx in history], dtype=float)
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    for _ in range(3000):
        p = 1.0 / (1.0 + np.exp(-(x1 @ w)))
        w -= 1.0 * (x1.T @ (p - y) / len(y) + 1e-3 * w)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, weights=w[:-1], intercept=w[-1])


def build(out: Path = OUT) -> StreamingContext:
    model_path = out / "model.npz"
    if not model_path.exists():
        train_offline(model_path)
    ctx = StreamingContext("200ms", out / "checkpoint", name="fraud_online")
    txns = ctx.queue_stream(transactions(BATCHES, PER_BATCH, seed=2, drift=1.0))
    model = StreamingLogisticRegression.from_npz(model_path, step_size=3.0, reg_param=1e-3,
                                                 threshold=None)
    # score every transaction with the model as it stood before this batch ...
    scored = model.predict_on_values(txns.map(lambda tx: (tx, features(tx)),
                                              on_error="dead_letter"))
    alerts = (scored.filter(lambda pair: pair[1] > 0.5)
                    .map(lambda pair: {"id": pair[0]["id"], "card": pair[0]["card"],
                                       "amount": pair[0]["amount"], "probability": pair[1],
                                       "is_fraud": pair[0]["is_fraud"]}))
    alerts.sink("sqlite", path=str(out / "fraud.db"), table="alerts", key=["id"],
                columns=["id", "card", "amount", "probability", "is_fraud"])
    alerts.pprint(3)
    # ... then learn from the batch's labels (chargebacks, in a real system later)
    model.train_on(txns.map(lambda tx: (tx["is_fraud"], features(tx)), on_error="dead_letter"))
    amounts = txns.filter(lambda tx: not isinstance(tx["amount"], str)).map(
        lambda tx: (tx["card"], math.log(tx["amount"])))
    (zscore_alerts(amounts, threshold=3.5, min_count=8)
        .sink("sqlite", path=str(out / "fraud.db"), table="amount_alerts",
              key=["key", "batch_time", "value"], columns=["key", "batch_time", "value", "score"]))
    ctx.fraud_model = model  # for the test and for interactive use: ctx.fraud_model.latest_model()
    return ctx
