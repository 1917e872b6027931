"""The streaming models on their own: converged answers against scikit-learn, runners, bad input.

scikit-learn's batch fits are the reference where SGD has a converged answer:
fed the same batch again and again, least squares converges to the
least-squares solution and L2-regularized logistic regression to its unique
minimum; KMeans with decay 0 is one Lloyd iteration per batch, so repeated
batches reproduce scikit-learn's Lloyd KMeans from the same initial centres.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression

from etlcore import StreamingContext
from etlcore.errors import ConfigError
from etlcore.ml import StreamingKMeans, StreamingLinearRegression, StreamingLogisticRegression
from tests.ml.data import classification_batches, cluster_batches, regression_batches


def run(model, batches, *, runner="local", repeat=1, predict=None, workers=None):
    """Train ``model`` on ``batches`` (each ``repeat`` times) from two sources; collect predictions."""
    # a model is trained batch by batch: every runner gets the same batches (the spark
    # runner would otherwise plan the queued backlog as catch-up batches)
    ctx = StreamingContext(1, clock="manual", runner=runner, workers=workers, catch_up=False)
    fed = [b for b in batches for _ in range(repeat)]
    stream = ctx.queue_stream([b[::2] for b in fed]).union(ctx.queue_stream([b[1::2] for b in fed]))
    model.train_on(stream)
    got: list = []
    if predict is not None:
        predict(model, stream).foreach_batch(lambda batch_id, recs: got.append(recs))
    ctx.run(batches=len(fed))
    return got


def xy(batch):
    return np.array([f for _, f in batch]), np.array([label for label, _ in batch])


def test_least_squares_converges_to_sklearns_fit():
    batch = regression_batches(1, 300)[0]
    model = StreamingLinearRegression(0.5, 100, convergence_tol=0.0, num_features=3)
    run(model, [batch], repeat=10)
    want = LinearRegression(fit_intercept=False).fit(*xy(batch)).coef_
    np.testing.assert_allclose(model.latest_model().weights, want, atol=1e-8)


def test_least_squares_with_intercept_converges_to_sklearns_fit():
    batch = [(y + 4.0, x) for y, x in regression_batches(1, 300)[0]]
    model = StreamingLinearRegression(0.5, 200, convergence_tol=0.0, num_features=3,
                                      intercept=True)
    run(model, [batch], repeat=10)
    ref = LinearRegression().fit(*xy(batch))
    latest = model.latest_model()
    np.testing.assert_allclose(latest.weights, ref.coef_, atol=1e-6)
    assert latest.intercept == pytest.approx(ref.intercept_, abs=1e-6)


def test_l2_logistic_regression_converges_to_sklearns_fit():
    batch = classification_batches(1, 400)[0]
    reg = 0.05
    model = StreamingLogisticRegression(1.0, 1, reg_param=reg, convergence_tol=0.0,
                                        num_features=3)
    run(model, [batch], repeat=400)
    x, y = xy(batch)
    # MLlib minimises mean loss + reg/2 |w|^2; scikit-learn |w|^2 / 2 + C * sum loss
    ref = LogisticRegression(C=1.0 / (reg * len(y)), fit_intercept=False, tol=1e-12,
                             max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(model.latest_model().weights, ref.coef_[0], atol=1e-5)


def test_kmeans_without_memory_is_lloyds_algorithm():
    batch = cluster_batches(1, 300)[0]
    init = np.array([[1.0, 1.0], [4.0, 3.0], [-3.0, 3.0]])
    model = StreamingKMeans(3, decay_factor=0.0, initial_centers=init)
    run(model, [batch], repeat=8)
    ref = KMeans(3, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(np.array(batch))
    np.testing.assert_allclose(model.latest_model().centers, ref.cluster_centers_, atol=1e-9)


def test_the_same_model_on_every_runner(request):
    from tests.engine.conftest import make_runner

    batches = classification_batches(4, 200)
    models = {}
    for name in ("local", "processes", "spark"):
        model = StreamingLogisticRegression(0.5, 3, reg_param=0.01, num_features=3)
        runner = make_runner(name, request)
        got = run(model, batches, runner=runner,
                  predict=lambda m, s: m.predict_on_values(s.map(lambda r: (r[0], r[1]))))
        models[name] = (model.latest_model().weights, got)
    weights, predictions = models["local"]
    assert len(predictions) == 4 and all(len(p) == 200 for p in predictions)
    for name in ("processes", "spark"):
        np.testing.assert_allclose(models[name][0], weights, rtol=1e-12, atol=1e-12,
                                   err_msg=name)
        assert models[name][1] == predictions, name


def test_predictions_use_the_model_from_before_the_batch():
    batches = regression_batches(3, 50)
    snapshots = []
    model = StreamingLinearRegression(0.2, 5, num_features=3)
    ctx = StreamingContext(1, clock="manual")
    stream = ctx.queue_stream(batches)
    model.train_on(stream)
    preds: list = []
    model.predict_on(stream.map(lambda r: r[1])).foreach_batch(lambda b, r: preds.append(r))
    ctx.add_listener(lambda m: snapshots.append(model.latest_model()))
    ctx.run(batches=3)
    x1 = np.array([f for _, f in batches[1]])
    np.testing.assert_allclose(preds[0], np.zeros(50))  # batch 0 scored with zero weights
    np.testing.assert_allclose(preds[1], snapshots[0].predict(x1), rtol=1e-12)


def test_bad_points_go_to_the_dead_letters_and_training_goes_on():
    good = regression_batches(2, 40)
    bad = [("x", [1.0, 2.0, 3.0]), (1.0, [1.0, 2.0]), (2.0, [1.0, float("nan"), 1.0]), 7]
    model = StreamingLinearRegression(0.2, 5, num_features=3)
    ctx = StreamingContext(1, clock="manual")
    stream = ctx.queue_stream([good[0] + bad, good[1]])
    model.train_on(stream)
    ctx.run(batches=2)
    reasons = [d["reason"] for d in ctx.dead_letters]
    assert len(reasons) == 4, reasons
    assert any("expected 3 features" in r for r in reasons)
    assert any("finite" in r for r in reasons)
    clean = StreamingLinearRegression(0.2, 5, num_features=3)
    run(clean, good)  # two sources, same points: the same model up to summation order
    np.testing.assert_allclose(model.latest_model().weights, clean.latest_model().weights,
                               rtol=1e-12)


def test_logistic_labels_must_be_0_or_1():
    model = StreamingLogisticRegression(num_features=2)
    ctx = StreamingContext(1, clock="manual")
    model.train_on(ctx.queue_stream([[(2.0, [1.0, 1.0]), (1.0, [1.0, 0.0])]]))
    ctx.run(batches=1)
    assert [d["reason"] for d in ctx.dead_letters] == ["train-1: label must be 0 or 1, got 2.0"]


@pytest.mark.parametrize("make, key", [
    (lambda: StreamingLinearRegression(step_size=0), "StreamingLinearRegression.step_size"),
    (lambda: StreamingLinearRegression(num_iterations=1.5),
     "StreamingLinearRegression.num_iterations"),
    (lambda: StreamingLogisticRegression(mini_batch_fraction=1.5),
     "StreamingLogisticRegression.mini_batch_fraction"),
    (lambda: StreamingLinearRegression(initial_weights=["a"]),
     "StreamingLinearRegression.initial_weights"),
    (lambda: StreamingKMeans(2, decay_factor=1.5), "StreamingKMeans.decay_factor"),
    (lambda: StreamingKMeans(2, half_life=0), "StreamingKMeans.half_life"),
    (lambda: StreamingKMeans(2, time_unit="hours"), "StreamingKMeans.time_unit"),
    (lambda: StreamingKMeans(2, initial_centers=[[1.0, 2.0]]), "StreamingKMeans.initial_centers"),
])
def test_bad_parameters_name_their_key(make, key):
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.key == key


def test_a_model_without_initial_weights_is_refused_before_the_job_runs():
    ctx = StreamingContext(1, clock="manual")
    with pytest.raises(ConfigError, match="initial weights"):
        StreamingLinearRegression().train_on(ctx.queue_stream([[]]))


@pytest.mark.parametrize("make", [
    lambda f: StreamingLinearRegression(0.2, 5, f, num_features=3),
    lambda f: StreamingLogisticRegression(0.5, 3, f, num_features=3),
    lambda f: StreamingLogisticRegression(0.5, 1, f, num_features=3),
])
def test_mini_batch_sampling_is_deterministic_and_samples(make):
    batches = [[(float(y > 0), x) for y, x in b] for b in regression_batches(3, 200)]
    runs = []
    for fraction in (0.5, 0.5, 1.0):
        model = make(fraction)
        run(model, batches)
        runs.append(model.latest_model().weights)
    assert np.array_equal(runs[0], runs[1])  # a replay draws the same sample
    assert not np.allclose(runs[0], runs[2])  # and it is a sample


def test_nearest_centres_are_found_in_bounded_chunks(monkeypatch):
    from etlcore.ml import kmeans

    rng = np.random.default_rng(0)
    centres, points = rng.normal(size=(3, 2)), rng.normal(size=(50, 2))
    d2 = ((points[:, None] - centres[None]) ** 2).sum(axis=2)
    monkeypatch.setattr(kmeans, "_CHUNK", 10)  # 1 row per chunk
    idx, dist = kmeans.closest(centres, points)
    assert (idx == d2.argmin(axis=1)).all()
    np.testing.assert_array_equal(dist, d2.min(axis=1))
