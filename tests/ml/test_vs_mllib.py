"""The three models against Spark MLlib's streaming models, batch by batch.

One pyspark StreamingContext (on the session's Spark cluster) feeds the same
seeded batches through ``queueStream`` to ``StreamingLinearRegressionWithSGD``,
two ``StreamingLogisticRegressionWithSGD`` (one SGD step per batch, and two
steps with L2) and two ``StreamingKMeans`` (decay per batch, half-life in
points), recording every model after every batch. The same configurations in
etlcore, fed by two sources so the map-side statistics of two tasks are
merged, must give the same weights and centres after every one of the N
batches, within 1e-9 (sums are added in another order, nothing else differs).
MLlib samples with ``miniBatchFraction``; 1.0 makes both deterministic.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from etlcore import StreamingContext
from etlcore.ml import StreamingKMeans, StreamingLinearRegression, StreamingLogisticRegression
from tests.ml.data import classification_batches, cluster_batches, regression_batches

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

N = 3
SIZE = 120
TOL = 1e-9
W0 = [0.1, 0.0, -0.1]
K_CENTRES = [[1.0, 1.0], [4.0, 3.0], [-3.0, 3.0]]
K_WEIGHTS = [1.0, 2.0, 1.0]

LIN = {"step": 0.1, "iterations": 2}
LOG1 = {"step": 0.5, "iterations": 1, "reg": 0.0}
LOG5 = {"step": 0.5, "iterations": 2, "reg": 0.01}
KM_BATCHES = {"decay": 0.5}
KM_POINTS = {"half_life": 150.0}


def _mllib_run(sc: Any) -> dict[str, list[Any]]:
    """Every model after each of the N batches, as MLlib computes it."""
    from pyspark.mllib.classification import StreamingLogisticRegressionWithSGD
    from pyspark.mllib.clustering import StreamingKMeans as MKMeans
    from pyspark.mllib.linalg import Vectors
    from pyspark.mllib.regression import LabeledPoint, StreamingLinearRegressionWithSGD
    from pyspark.streaming import StreamingContext as SparkStreamingContext

    def labelled(batches: list[list[Any]]) -> list[Any]:
        return [sc.parallelize([LabeledPoint(y, Vectors.dense(x)) for y, x in b], 1)
                for b in batches]

    ssc = SparkStreamingContext(sc, 0.5)
    reg = ssc.queueStream(labelled(regression_batches(N, SIZE)))
    cls = ssc.queueStream(labelled(classification_batches(N, SIZE)))
    pts = ssc.queueStream([sc.parallelize([Vectors.dense(x) for x in b], 1)
                           for b in cluster_batches(N, SIZE)])
    lin = StreamingLinearRegressionWithSGD(stepSize=LIN["step"], numIterations=LIN["iterations"],
                                           miniBatchFraction=1.0, convergenceTol=0.0)
    lin.setInitialWeights(W0)
    log1 = StreamingLogisticRegressionWithSGD(stepSize=LOG1["step"],
                                              numIterations=LOG1["iterations"],
                                              miniBatchFraction=1.0, regParam=LOG1["reg"],
                                              convergenceTol=0.0)
    log1.setInitialWeights(W0)
    log5 = StreamingLogisticRegressionWithSGD(stepSize=LOG5["step"],
                                              numIterations=LOG5["iterations"],
                                              miniBatchFraction=1.0, regParam=LOG5["reg"],
                                              convergenceTol=0.0)
    log5.setInitialWeights(W0)
    km_b = MKMeans(k=3, decayFactor=KM_BATCHES["decay"], timeUnit="batches")
    km_b.setInitialCenters(K_CENTRES, K_WEIGHTS)
    km_p = MKMeans(k=3).setHalfLife(KM_POINTS["half_life"], "points")
    km_p.setInitialCenters(K_CENTRES, K_WEIGHTS)
    lin.trainOn(reg)
    log1.trainOn(cls)
    log5.trainOn(cls)
    km_b.trainOn(pts)
    km_p.trainOn(pts)
    seen: dict[str, list[Any]] = {k: [] for k in ("lin", "log1", "log5", "km_b", "km_p")}
    def record_sgd(rdd: Any) -> None:  # foreachRDD functions must return None
        seen["lin"].append(lin.latestModel().weights.toArray().copy())

    def record_cls(rdd: Any) -> None:
        seen["log1"].append(log1.latestModel().weights.toArray().copy())
        seen["log5"].append(log5.latestModel().weights.toArray().copy())

    def record_km(rdd: Any) -> None:
        for name, model in (("km_b", km_b), ("km_p", km_p)):
            latest = model.latestModel()
            seen[name].append((np.array(latest.centers), np.array(latest.clusterWeights)))

    # registered after trainOn: Spark runs a batch's output operations in this order
    reg.foreachRDD(record_sgd)
    cls.foreachRDD(record_cls)
    pts.foreachRDD(record_km)
    ssc.start()
    try:
        deadline = time.monotonic() + 240
        while min(len(v) for v in seen.values()) < N:
            assert time.monotonic() < deadline, f"MLlib ran {[len(v) for v in seen.values()]}"
            time.sleep(0.1)
    finally:
        ssc.stop(stopSparkContext=False, stopGraceFully=False)
    return {k: v[:N] for k, v in seen.items()}


def _etlcore_run() -> dict[str, list[Any]]:
    ctx = StreamingContext(1, clock="manual")

    def halves(batches: list[list[Any]]) -> Any:  # two sources, two map tasks every batch
        a = ctx.queue_stream([b[: len(b) // 2] for b in batches])
        return a.union(ctx.queue_stream([b[len(b) // 2:] for b in batches]))

    reg = halves(regression_batches(N, SIZE))
    cls = halves(classification_batches(N, SIZE))
    pts = halves(cluster_batches(N, SIZE))
    models = {
        "lin": StreamingLinearRegression(LIN["step"], LIN["iterations"], convergence_tol=0.0,
                                         initial_weights=W0),
        "log1": StreamingLogisticRegression(LOG1["step"], LOG1["iterations"],
                                            reg_param=LOG1["reg"], convergence_tol=0.0,
                                            initial_weights=W0),
        "log5": StreamingLogisticRegression(LOG5["step"], LOG5["iterations"],
                                            reg_param=LOG5["reg"], convergence_tol=0.0,
                                            initial_weights=W0),
        "km_b": StreamingKMeans(3, KM_BATCHES["decay"], initial_centers=K_CENTRES,
                                initial_weights=K_WEIGHTS),
        "km_p": StreamingKMeans(3, half_life=KM_POINTS["half_life"], time_unit="points",
                                initial_centers=K_CENTRES, initial_weights=K_WEIGHTS),
    }
    for name, stream in (("lin", reg), ("log1", cls), ("log5", cls), ("km_b", pts),
                         ("km_p", pts)):
        models[name].train_on(stream)
    seen: dict[str, list[Any]] = {k: [] for k in models}

    def record(batch_id: int, records: list[Any]) -> None:
        for name, model in models.items():
            m = model.latest_model()
            seen[name].append(m.weights if name.startswith("l") else (m.centers, m.weights))

    # a listener runs after each committed batch, when every model has its update
    ctx.add_listener(lambda metrics: record(0, []))
    ctx.run(batches=N)
    return seen


@pytest.fixture(scope="module")
def runs(spark_context: Any) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    started = time.monotonic()
    mllib = _mllib_run(spark_context)
    print(f"MLlib run: {time.monotonic() - started:.1f}s")
    return mllib, _etlcore_run()


@pytest.mark.parametrize("name", ["lin", "log1", "log5"])
def test_sgd_weights_equal_mllib_after_every_batch(runs, name):
    mllib, ours = runs
    assert len(ours[name]) == N
    for batch, (want, got) in enumerate(zip(mllib[name], ours[name], strict=True)):
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=f"batch {batch}")
    assert not np.allclose(ours[name][-1], W0)  # it learned something
    assert len(mllib[name]) == N


@pytest.mark.parametrize("name", ["km_b", "km_p"])
def test_kmeans_centres_and_weights_equal_mllib_after_every_batch(runs, name):
    mllib, ours = runs
    assert len(ours[name]) == N
    for batch, ((want_c, want_w), (got_c, got_w)) in enumerate(
            zip(mllib[name], ours[name], strict=True)):
        np.testing.assert_allclose(got_c, want_c, rtol=TOL, atol=TOL, err_msg=f"batch {batch}")
        np.testing.assert_allclose(got_w, want_w, rtol=TOL, atol=TOL, err_msg=f"batch {batch}")
    assert not np.allclose(ours[name][-1][0], K_CENTRES)
