"""Batch metrics as Prometheus metrics (``/metrics``), through prometheus_client.

A listener on the driver: every committed batch, from any runner, reaches it
as one :class:`~etlcore.metrics.BatchMetrics` (worker counts travel back with
the task results), so the endpoint sees what the workers did. Each exporter
keeps its own registry, so two jobs in one process never share a series.
"""

from __future__ import annotations

from typing import Any

from etlcore.metrics import BatchMetrics
from etlcore.ui.deps import need

# seconds: a 10 ms batch to a minute-long one
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PrometheusExporter:
    """Counters, gauges and histograms fed by :meth:`record` (one call per batch)."""

    def __init__(self, job: str):
        pc = need("prometheus_client")
        self.job = job
        self.registry = pc.CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batches = pc.Counter("etlcore_batches", "Committed batches", ["job"], registry=r)
        self.records_in = pc.Counter("etlcore_records_in", "Records read, per source",
                                     ["job", "source"], registry=r)
        self.records_out = pc.Counter("etlcore_records_out", "Records written, per sink",
                                      ["job", "sink"], registry=r)
        self.dead_letters = pc.Counter("etlcore_dead_letters", "Records sent to the dead letters",
                                       ["job"], registry=r)
        self.late = pc.Counter("etlcore_late_records", "Records later than the watermark",
                               ["job"], registry=r)
        self.events = pc.Counter("etlcore_connector_events",
                                 "Connector events (retries, outages) counted by name",
                                 ["job", "event"], registry=r)
        self.write_s = pc.Counter("etlcore_sink_write_seconds",
                                  "Time sink writers spent writing, summed over tasks",
                                  ["job", "sink"], registry=r)
        self.commit_s = pc.Counter("etlcore_sink_commit_seconds", "Time sinks spent committing",
                                   ["job", "sink"], registry=r)
        self.processing = pc.Histogram("etlcore_batch_processing_seconds",
                                       "Batch start to commit", ["job"], buckets=_BUCKETS,
                                       registry=r)
        self.scheduling = pc.Histogram("etlcore_scheduling_delay_seconds",
                                       "How late a batch started after its scheduled time",
                                       ["job"], buckets=_BUCKETS, registry=r)
        self.state = pc.Gauge("etlcore_state_keys", "Keys or records held in operator state",
                              ["job"], registry=r)
        self.input_rate = pc.Gauge("etlcore_input_rate_records_per_second",
                                   "Records in over the batch interval, last batch", ["job"],
                                   registry=r)
        self.lag = pc.Gauge("etlcore_source_lag_records",
                            "Records a source holds beyond the last planned batch",
                            ["job", "source"], registry=r)
        self.last_batch = pc.Gauge("etlcore_last_batch_id", "Id of the last committed batch",
                                   ["job"], registry=r)

    def record(self, m: BatchMetrics) -> None:
        job = self.job
        self.batches.labels(job).inc()
        for source, n in m.sources.items():
            self.records_in.labels(job, source).inc(n)
        for sink, n in m.records_out.items():
            self.records_out.labels(job, sink).inc(n)
        self.dead_letters.labels(job).inc(m.dead_letters)
        self.late.labels(job).inc(m.late_records)
        for name, n in m.counts.items():
            self.events.labels(job, name).inc(n)
        for sink, s in m.sink_write_s.items():
            self.write_s.labels(job, sink).inc(s)
        for sink, s in m.sink_commit_s.items():
            self.commit_s.labels(job, sink).inc(s)
        self.processing.labels(job).observe(m.processing_s)
        self.scheduling.labels(job).observe(m.scheduling_delay_s)
        self.state.labels(job).set(m.state_size)
        self.input_rate.labels(job).set(m.input_rate)
        for source, lag in m.source_lag.items():
            self.lag.labels(job, source).set(lag)
        self.last_batch.labels(job).set(m.batch_id)

    __call__ = record  # a listener

    def exposition(self) -> bytes:
        """The text format a Prometheus server scrapes."""
        pc: Any = need("prometheus_client")
        return pc.generate_latest(self.registry)
