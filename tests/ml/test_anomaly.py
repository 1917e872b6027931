"""Anomaly building blocks: per-key z-scores (running, EWMA) and KMeans distance alerts."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from etlcore import StreamingContext
from etlcore.errors import ConfigError
from etlcore.ml import StreamingKMeans
from etlcore.ml.anomaly import kmeans_distance_alerts, zscore_alerts


def _reference(values, threshold, min_count, alpha=None):
    """Alerts for one key, recomputed from the definition with numpy (no streaming state)."""
    out = []
    for i, x in enumerate(values):
        past = np.array(values[:i])
        if i < min_count:
            continue
        if alpha is None:
            mean, std = past.mean(), past.std(ddof=1)
        else:
            mean, var = past[0], 0.0
            for v in past[1:]:
                d = v - mean
                mean, var = mean + alpha * d, (1 - alpha) * (var + alpha * d * d)
            std = math.sqrt(var)
        if abs(x - mean) > threshold * std:
            out.append((i, x))
    return out


@pytest.mark.parametrize("alpha", [None, 0.2])
def test_zscore_alerts_match_the_definition_per_key(alpha):
    rng = np.random.default_rng(7)
    series = {k: (10 * (j + 1) + rng.normal(size=60)).tolist() for j, k in enumerate("ab")}
    series["a"][30] += 15.0
    series["b"][45] -= 20.0
    batches = [[(k, series[k][i]) for i in range(b * 10, b * 10 + 10) for k in "ab"]
               for b in range(6)]
    ctx = StreamingContext(1, clock="manual", parallelism=2)
    got: list = []
    zscore_alerts(ctx.queue_stream(batches), 4.0, min_count=10, alpha=alpha).foreach_batch(
        lambda b, recs: got.extend(recs))
    ctx.run(batches=6)
    for k in "ab":
        want = [x for _, x in _reference(series[k], 4.0, 10, alpha)]
        assert [a["value"] for a in got if a["key"] == k] == pytest.approx(want), k
    assert {(a["key"], a["value"]) for a in got} >= {("a", series["a"][30]),
                                                     ("b", series["b"][45])}
    assert all(set(a) == {"key", "value", "mean", "std", "score", "batch_time"} for a in got)


def test_alerts_go_to_a_sink_and_bad_values_to_the_dead_letters(tmp_path):
    values = [("s1", 1.0 + 0.01 * (i % 3)) for i in range(20)] + [("s1", 9.0), ("s1", "hot")]
    ctx = StreamingContext(1, clock="manual")
    (zscore_alerts(ctx.queue_stream([values]), 3.0, min_count=5)
        .sink("sqlite", path=str(tmp_path / "a.db"), table="alerts", key=["key", "batch_time"],
              columns=["key", "batch_time", "value", "score"]))
    ctx.run(batches=1)
    rows = sqlite3.connect(tmp_path / "a.db").execute("SELECT key, value FROM alerts").fetchall()
    assert rows == [("s1", 9.0)]
    assert [d["record"] for d in ctx.dead_letters] == [("s1", "hot")]
    assert "not a finite number" in ctx.dead_letters[0]["reason"]


def test_kmeans_distance_alerts_flag_far_points_with_their_keys():
    model = StreamingKMeans(2, initial_centers=[[0.0, 0.0], [10.0, 10.0]])
    points = [("p1", [0.5, 0.0]), ("p2", [10.0, 9.0]), ("far", [5.0, 5.0]), ("p3", [0.0, 1.0])]
    ctx = StreamingContext(1, clock="manual")
    got: list = []
    kmeans_distance_alerts(model, ctx.queue_stream([points]), 3.0, keyed=True).foreach_batch(
        lambda b, recs: got.extend(recs))
    ctx.run(batches=1)
    assert [(a["key"], a["cluster"]) for a in got] == [("far", 0)]
    assert got[0]["distance"] == pytest.approx(math.hypot(5.0, 5.0))


def test_kmeans_distance_alerts_follow_the_trained_model():
    model = StreamingKMeans(1, decay_factor=0.0, initial_centers=[[0.0]])
    ctx = StreamingContext(1, clock="manual")
    stream = ctx.queue_stream([[[10.0], [10.2]], [[10.1], [0.0]]])
    model.train_on(stream)
    got: list = []
    kmeans_distance_alerts(model, stream, 1.0).foreach_batch(lambda b, recs: got.append(recs))
    ctx.run(batches=2)
    # batch 0 is scored with the centre at 0, batch 1 with the centre moved to 10.1
    assert [[a["point"] for a in batch] for batch in got] == [[[10.0], [10.2]], [[0.0]]]


@pytest.mark.parametrize("kwargs, key", [
    ({"threshold": 0}, "zscore_alerts.threshold"),
    ({"min_count": 1}, "zscore_alerts.min_count"),
    ({"alpha": 1.5}, "zscore_alerts.alpha"),
])
def test_bad_detector_settings_name_their_key(kwargs, key):
    ctx = StreamingContext(1, clock="manual")
    with pytest.raises(ConfigError) as err:
        zscore_alerts(ctx.queue_stream([[]]), **kwargs)
    assert err.value.key == key
