"""examples/fraud_online.py end to end: offline model -> scores -> alerts in SQLite, model learning."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np

from etlcore.cli.loader import load_target
from etlcore.clock import ManualClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud_online.py"


def test_fraud_example_alerts_and_keeps_learning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = load_target(EXAMPLE)
    ctx.clock = ManualClock()
    ctx.run(until_idle=True)
    out = tmp_path / "etlcore-examples" / "fraud_online"
    with sqlite3.connect(out / "fraud.db") as conn:
        labels = [row[0] for row in conn.execute("SELECT is_fraud FROM alerts")]
        amount_alerts = conn.execute("SELECT COUNT(*) FROM amount_alerts").fetchone()[0]
    assert len(labels) > 100 and sum(labels) / len(labels) > 0.85  # alerts are mostly fraud
    assert amount_alerts > 0
    reasons = {d["reason"] for d in ctx.dead_letters}
    assert ctx.dead_letters and all("could not convert string to float" in r for r in reasons)

    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import fraud_online as example
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    offline = np.load(out / "model.npz")
    online = ctx.fraud_model.latest_model()
    assert online.weights[2] < offline["weights"][2] - 0.1  # learned: fraud is no longer foreign
    last = [tx for tx in example.transactions(example.BATCHES, example.PER_BATCH, seed=2,
                                              drift=1.0)[-1] if not isinstance(tx["amount"], str)]
    x = np.array([example.features(tx) for tx in last])
    fraud = np.array([tx["is_fraud"] for tx in last]) == 1

    def caught(weights, intercept):
        return int(((1 / (1 + np.exp(-(x @ weights + intercept))) > 0.5) & fraud).sum())

    assert caught(online.weights, online.intercept) > caught(offline["weights"],
                                                             float(offline["intercept"]))
