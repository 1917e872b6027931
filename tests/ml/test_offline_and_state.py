"""Offline to online (an .npz, a scikit-learn estimator), and the model as checkpointed state."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from etlcore import StreamingContext
from etlcore.codec import Codec
from etlcore.errors import CheckpointError, ConfigError
from etlcore.ml import StreamingKMeans, StreamingLinearRegression, StreamingLogisticRegression
from tests.ml.data import classification_batches, cluster_batches, regression_batches


def test_numpy_arrays_round_trip_through_the_state_codec_bit_for_bit():
    codec = Codec()
    state = {"w": np.array([0.1, -2.5, np.pi]), "c": np.arange(6.0).reshape(2, 3).T,
             "n": np.int64(7), "f": np.float32(1.25), "mask": np.array([True, False]),
             "nested": [(np.zeros(0), 1)]}
    back = codec.decode(codec.encode(state))
    for key in ("w", "c", "mask"):
        assert back[key].dtype == state[key].dtype and np.array_equal(back[key], state[key])
    assert back["n"] == 7 and type(back["n"]) is np.int64
    assert type(back["f"]) is np.float32
    assert back["nested"][0][0].shape == (0,) and back["nested"][0][1] == 1
    with pytest.raises(CheckpointError, match="numpy.ndarray"):
        codec.encode(np.array([object()]))


def test_the_checkpoint_holds_the_model_as_arrays_and_a_restart_resumes_with_it(tmp_path):
    batches = regression_batches(6, 50)

    def job(ckpt, n):
        model = StreamingLinearRegression(0.2, 5, num_features=3)
        ctx = StreamingContext(1, ckpt, clock="manual", checkpoint_interval=1)
        model.train_on(ctx.queue_stream(batches))
        ctx.run(batches=n)
        return model, ctx

    straight, _ = job(tmp_path / "a", 6)
    first, _ = job(tmp_path / "b", 3)
    resumed, _ = job(tmp_path / "b", 3)
    assert np.array_equal(resumed.latest_model().weights, straight.latest_model().weights)
    assert not np.array_equal(first.latest_model().weights, straight.latest_model().weights)
    data = max((tmp_path / "b" / "state").iterdir()).read_bytes()
    assert data[5:13].strip() == b"msgpack"  # header: magic, codec, crc32 (etlcore.checkpoint)
    weights = Codec().decode(data[17:])["train-1"]["parts"][0]["weights"]
    assert isinstance(weights, np.ndarray) and weights.dtype == np.float64
    assert np.array_equal(weights, resumed.latest_model().weights)


def test_start_from_an_npz_and_keep_learning(tmp_path):
    offline = StreamingLinearRegression(0.2, 20, num_features=3)
    ctx = StreamingContext(1, clock="manual")
    offline.train_on(ctx.queue_stream(regression_batches(5, 100, seed=9)))
    ctx.run(batches=5)
    offline.latest_model().save(tmp_path / "model.npz")

    online = StreamingLinearRegression.from_npz(tmp_path / "model.npz", step_size=0.2,
                                                num_iterations=20)
    np.testing.assert_array_equal(online.latest_model().weights, offline.latest_model().weights)
    ctx = StreamingContext(1, clock="manual")
    online.train_on(ctx.queue_stream(regression_batches(2, 100)))
    ctx.run(batches=2)
    assert not np.array_equal(online.latest_model().weights, offline.latest_model().weights)

    with pytest.raises(ConfigError, match="'weights' array"):
        np.savez(tmp_path / "other.npz", w=np.zeros(3))
        StreamingLinearRegression.from_npz(tmp_path / "other.npz")


def test_a_scikit_learn_classifier_scores_the_stream_unchanged_without_train_on():
    batch = classification_batches(1, 300)[0]
    x = np.array([f for _, f in batch])
    clf = LogisticRegression().fit(x, [label for label, _ in batch])
    model = StreamingLogisticRegression.from_sklearn(clf, threshold=None)
    ctx = StreamingContext(1, clock="manual")
    got: list = []
    model.predict_on_values(ctx.queue_stream([[(i, f) for i, (_, f) in enumerate(batch)]])
                            ).foreach_batch(lambda b, recs: got.extend(recs))
    ctx.run(batches=1)
    assert [k for k, _ in got] == list(range(300))
    np.testing.assert_allclose([p for _, p in got], clf.predict_proba(x)[:, 1], rtol=1e-12)
    assert model.latest_model().intercept == pytest.approx(clf.intercept_[0])


def test_a_scikit_learn_kmeans_starts_streaming_kmeans_with_its_cluster_sizes():
    points = np.array(cluster_batches(1, 300)[0])
    km = KMeans(3, n_init=1, random_state=0).fit(points)
    model = StreamingKMeans.from_sklearn(km, decay_factor=0.9)
    start = model.latest_model()
    np.testing.assert_array_equal(start.centers, km.cluster_centers_)
    assert start.weights.sum() == 300
    ctx = StreamingContext(1, clock="manual")
    model.train_on(ctx.queue_stream(cluster_batches(2, 100, seed=4)))
    ctx.run(batches=2)
    moved = np.abs(model.latest_model().centers - km.cluster_centers_).max()
    assert 0 < moved < 1.0  # a little, from where the offline fit left them
