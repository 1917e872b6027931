"""How many records each source partition may put into the next batch.

:class:`PIDRateController` is Spark's ``spark.streaming.backpressure``
estimator: it watches each batch's processing time and scheduling delay and
sets the next input rate so processing keeps up with the batch interval.
"""

from __future__ import annotations

from etlcore.metrics import BatchMetrics


class RateController:
    """A fixed cap: ``max_rate_per_partition`` records/s, or no cap at all."""

    def __init__(self, batch_interval: float, max_rate_per_partition: float | None = None):
        self.batch_interval = batch_interval
        self.max_rate_per_partition = max_rate_per_partition

    def max_records(self, partitions: int) -> int | None:
        """The per-partition bound for the next batch."""
        if self.max_rate_per_partition is None:
            return None
        return max(1, int(self.max_rate_per_partition * self.batch_interval))

    def update(self, metrics: BatchMetrics) -> None:
        """Learn from a finished batch (the fixed controller ignores it)."""


class PIDRateController(RateController):
    """Spark's PIDRateEstimator (proportional 1.0, integral 0.2, derivative 0, min 100/s).

    The rate applies to the whole source and is split evenly over its partitions;
    ``max_rate_per_partition`` still caps each partition.
    """

    def __init__(self, batch_interval: float, max_rate_per_partition: float | None = None,
                 proportional: float = 1.0, integral: float = 0.2, derivative: float = 0.0,
                 min_rate: float = 100.0, initial_rate: float | None = None):
        super().__init__(batch_interval, max_rate_per_partition)
        self.kp, self.ki, self.kd = proportional, integral, derivative
        self.min_rate = min_rate
        self.rate: float | None = initial_rate
        self._latest_time: float | None = None
        self._latest_error = 0.0

    def max_records(self, partitions: int) -> int | None:
        caps = []
        fixed = super().max_records(partitions)
        if fixed is not None:
            caps.append(fixed)
        if self.rate is not None:
            caps.append(max(1, int(self.rate * self.batch_interval / max(1, partitions))))
        return min(caps) if caps else None

    def update(self, metrics: BatchMetrics) -> None:
        n, processing = metrics.records_in, metrics.processing_s
        if n <= 0 or processing <= 0:
            return
        now = metrics.batch_time
        processing_rate = n / processing
        if self.rate is None or self._latest_time is None:
            # first observation: start from what we measured
            self.rate = max(processing_rate, self.min_rate)
            self._latest_time = now
            return
        since = max(now - self._latest_time, 1e-3)
        error = self.rate - processing_rate
        historical_error = metrics.scheduling_delay_s * processing_rate / self.batch_interval
        d_error = (error - self._latest_error) / since
        new_rate = self.rate - self.kp * error - self.ki * historical_error - self.kd * d_error
        self.rate = max(new_rate, self.min_rate)
        self._latest_time = now
        self._latest_error = error
