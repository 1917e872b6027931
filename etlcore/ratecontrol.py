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

    @property
    def bounds(self) -> bool:
        """May bound some batch: then each batch is planned after the previous one's
        ``update`` (the scheduler does not run ahead)."""
        return self.max_rate_per_partition is not None


class PIDRateController(RateController):
    """Spark's PIDRateEstimator (proportional 1.0, integral 0.2, derivative 0, min 100/s).

    The rate applies to the whole source and is split evenly over its partitions;
    ``max_rate_per_partition`` still caps each partition. As in Spark, the first
    batch only seeds the estimator (its measured processing rate becomes the
    "latest rate"); the first limit is published after the second batch, and
    until then ``initial_rate`` (Spark's ``backpressure.initialRate``), if any,
    bounds the input.
    """

    def __init__(self, batch_interval: float, max_rate_per_partition: float | None = None,
                 proportional: float = 1.0, integral: float = 0.2, derivative: float = 0.0,
                 min_rate: float = 100.0, initial_rate: float | None = None):
        super().__init__(batch_interval, max_rate_per_partition)
        if min(proportional, integral, derivative) < 0 or min_rate <= 0:
            raise ValueError("PID gains must be >= 0 and min_rate > 0 (Spark's checks)")
        self.kp, self.ki, self.kd = proportional, integral, derivative
        self.min_rate = min_rate
        self.rate: float | None = initial_rate  # the published limit, records/s
        self._first_run = True
        self._latest_time: float | None = None
        self._latest_rate = 0.0
        self._latest_error = 0.0

    def max_records(self, partitions: int) -> int | None:
        caps = []
        fixed = super().max_records(partitions)
        if fixed is not None:
            caps.append(fixed)
        if self.rate is not None:
            caps.append(max(1, int(self.rate * self.batch_interval / max(1, partitions))))
        return min(caps) if caps else None

    @property
    def bounds(self) -> bool:
        return True  # learns from every batch

    def update(self, metrics: BatchMetrics) -> None:
        n, processing, now = metrics.records_in, metrics.processing_s, metrics.batch_time
        if n <= 0 or processing <= 0:
            return
        if self._latest_time is not None and now <= self._latest_time:
            return  # Spark ignores batches that are not newer than the last one it used
        processing_rate = n / processing
        if self._first_run:
            self._latest_rate, self._latest_error = processing_rate, 0.0
            self._latest_time, self._first_run = now, False
            return
        since = now - self._latest_time  # type: ignore[operator]
        error = self._latest_rate - processing_rate
        # a scheduling delay s means s * processing_rate records overflowed earlier batches;
        # spread over one interval that is the "historical" (integral) error
        historical_error = metrics.scheduling_delay_s * processing_rate / self.batch_interval
        d_error = (error - self._latest_error) / since
        new_rate = max(self._latest_rate - self.kp * error - self.ki * historical_error
                       - self.kd * d_error, self.min_rate)
        self._latest_time, self._latest_rate, self._latest_error = now, new_rate, error
        self.rate = new_rate
