"""Crash-test job: sensor readings -> streaming regression, KMeans and z-score alerts.

    python sensors_ml_job.py CKPT OUT [RUNNER]

Every batch reads exactly ``BOUND`` readings from each of the generator's two
partitions (manual clock, rate far above the cap), so a restarted job plans
the batches an uninterrupted one ran. Models are checkpointed state; z-score
alerts go to SQLite. After batch ``LAST`` (the first empty one) the job saves
both models to ``OUT/models.npz``, which the test compares bit for bit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from etlcore import StreamingContext
from etlcore.ml import StreamingKMeans, StreamingLinearRegression
from etlcore.ml.anomaly import zscore_alerts

PARTITIONS, LIMIT, BOUND = 2, 2400, 40
LAST = LIMIT // BOUND
SLOW = 0.02


def last_commit(ckpt: Path) -> int:
    ids = [int(p.stem) for p in (ckpt / "commits").glob("*.json") if p.stem.isdigit()]
    return max(ids, default=-1)


def features(r: dict) -> list[float]:
    return [r["temperature"] / 10.0, r["humidity"] / 10.0]


def main(ckpt: Path, out: Path, runner: str = "local") -> None:
    out.mkdir(parents=True, exist_ok=True)
    ctx = StreamingContext(1.0, ckpt, clock="manual", name="sensors-ml", checkpoint_interval=5,
                           max_rate_per_partition=BOUND, runner=runner, parallelism=2)
    readings = ctx.source("generator", kind="sensors", seed=5, rate=1000,
                          partitions=PARTITIONS, limit=LIMIT, start_time=1_700_000_000.0)
    regression = StreamingLinearRegression(0.05, 20, num_features=2)
    regression.train_on(readings.map(lambda r: (r["humidity"] / 10.0,
                                                [1.0, r["temperature"] / 10.0])))
    kmeans = StreamingKMeans(3, half_life=200, time_unit="points",
                             initial_centers=[[1.5, 5.0], [2.1, 5.5], [2.7, 4.5]])
    kmeans.train_on(readings.map(features))
    alerts = zscore_alerts(readings.map(lambda r: (r["sensor_id"], r["temperature"])),
                           threshold=3.0, min_count=5)
    alerts.sink("sqlite", path=str(out / "out.db"), table="alerts", key=["key", "batch_time"],
                columns=["key", "batch_time", "value", "score"])
    readings.foreach_batch(lambda batch_id, records: time.sleep(SLOW))

    def stop_at_last(m):  # also fires when batch LAST is the replayed pending batch
        if m.batch_id >= LAST:
            ctx.stop()

    ctx.add_listener(stop_at_last)
    if last_commit(ckpt) < LAST:
        ctx.run(until_idle=True)
    else:
        ctx.open()  # finished before the last kill landed: recover the models only
    reg, km = regression.latest_model(), kmeans.latest_model()
    np.savez(out / "models.npz", weights=reg.weights, centers=km.centers, cweights=km.weights)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
