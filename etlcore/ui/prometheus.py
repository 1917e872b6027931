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

        self._children: dict[tuple[Any, ...], Any] = {}
        for metric in (self.batches, self.dead_letters, self.late):
            self._child(metric)  # exported as 0 before the first letter, not absent

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(job, ...)``, looked up once (this runs on the batch thread)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.job, *labels)
        return child

    def record(self, m: BatchMetrics) -> None:
        c = self._child
        c(self.batches).inc()
        for source, n in m.sources.items():
            c(self.records_in, source).inc(n)
        for sink, n in m.records_out.items():
            c(self.records_out, sink).inc(n)
        if m.dead_letters:
            c(self.dead_letters).inc(m.dead_letters)
        if m.late_records:
            c(self.late).inc(m.late_records)
        for name, n in m.counts.items():
            c(self.events, name).inc(n)
        for sink, sec in m.sink_write_s.items():
            c(self.write_s, sink).inc(sec)
        for sink, sec in m.sink_commit_s.items():
            c(self.commit_s, sink).inc(sec)
        c(self.processing).observe(m.processing_s)
        c(self.scheduling).observe(m.scheduling_delay_s)
        c(self.state).set(m.state_size)
        c(self.input_rate).set(m.input_rate)
        for source, lag in m.source_lag.items():
            c(self.lag, source).set(lag)
        c(self.last_batch).set(m.batch_id)

    __call__ = record  # a listener

    def exposition(self) -> bytes:
        """The text format a Prometheus server scrapes."""
        pc: Any = need("prometheus_client")
        return pc.generate_latest(self.registry)
