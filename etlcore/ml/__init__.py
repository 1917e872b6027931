"""Streaming machine learning: models that learn from every batch and score as they go.

    model = StreamingLinearRegression(step_size=0.1, num_features=3)
    model.train_on(labelled)                 # (label, features) records
    model.predict_on_values(keyed).sink(...) # (key, features) -> (key, prediction)

Spark MLlib's streaming models (linear and logistic regression by SGD,
KMeans with decay) with the same update rules, trained from map-side partial
statistics and checkpointed as numpy arrays; models trained offline (an
``.npz`` or a scikit-learn estimator) start them. :mod:`etlcore.ml.anomaly`
has streaming detectors. Needs numpy: ``pip install 'etlcore[ml]'``.
"""

from etlcore.plugin.imports import require_module

require_module("numpy", "etlcore[ml]", feature="etlcore.ml")

from etlcore.ml.kmeans import KMeansModel, StreamingKMeans  # noqa: E402
from etlcore.ml.linear import (  # noqa: E402
    LinearModel,
    StreamingLinearRegression,
    StreamingLogisticRegression,
)

__all__ = ["KMeansModel", "LinearModel", "StreamingKMeans", "StreamingLinearRegression",
           "StreamingLogisticRegression"]
