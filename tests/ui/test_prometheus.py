"""``/metrics`` scraped with prometheus_client's own parser equals the job's metrics.

Under ``processes`` the records are read, refused and counted in worker
processes; what the endpoint shows must still be every worker's work.
"""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.runners.processes import ProcessRunner
from etlcore.ui import attach

from . import jobs


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.parametrize("runner", ["local", "processes"])
def test_metrics_endpoint_counts_what_the_job_counted(runner, request):
    sink = f"prom-{runner}-{request.node.name}"
    MemorySink.clear(sink)
    ctx = StreamingContext(1.0, clock="manual", name="prom",
                           runner=ProcessRunner(workers=2) if runner == "processes" else runner)
    jobs.build(ctx, jobs.lines(4), sink)
    ui = attach(ctx, {"port": None, "metrics_port": 0})
    try:
        metrics = ctx.run(batches=4)
        got = scrape(ui.metrics_url)
        stored = MemorySink.results(sink)  # the job's own output
    finally:
        ui.stop()
        MemorySink.clear(sink)

    batches = list(metrics.batches)
    assert len(batches) == 4
    job = (("job", "prom"),)
    assert got[("etlcore_batches_total", job)] == 4
    source = batches[0].sources and next(iter(batches[0].sources))
    assert source, "the job's metrics name the source"
    assert got[("etlcore_records_in_total", (("job", "prom"), ("source", source)))] == \
        metrics.total_records_in == 80
    assert got[("etlcore_dead_letters_total", job)] == metrics.total_dead_letters == 11
    (output,) = batches[0].records_out  # the sink's output name
    written = sum(b.records_out[output] for b in batches)
    assert got[("etlcore_records_out_total", (("job", "prom"), ("sink", output)))] == \
        written == len(stored) > 0
    # counted inside the tasks (worker processes under `processes`), summed on the driver
    assert got[("etlcore_connector_events_total", (("event", "parsed"), ("job", "prom")))] == \
        sum(b.counts["parsed"] for b in batches) == 80
    assert got[("etlcore_batch_processing_seconds_count", job)] == 4
    assert got[("etlcore_batch_processing_seconds_sum", job)] == pytest.approx(
        sum(b.processing_s for b in batches))
    assert got[("etlcore_scheduling_delay_seconds_count", job)] == 4
    assert got[("etlcore_state_keys", job)] == batches[-1].state_size == 5
    assert got[("etlcore_last_batch_id", job)] == 3
    commit = (("job", "prom"), ("sink", output))
    assert got[("etlcore_sink_commit_seconds_total", commit)] == pytest.approx(
        sum(b.sink_commit_s[output] for b in batches))
    assert got[("etlcore_sink_write_seconds_total", commit)] == pytest.approx(
        sum(b.sink_write_s[output] for b in batches))


def test_source_lag_is_exported_where_the_source_knows_it():
    """A generator making 20 records/s read at most 5/s falls behind by 15 a batch."""
    ctx = StreamingContext(1.0, clock="manual", name="lag", max_rate_per_partition=5)
    ctx.source("generator", name="q", kind="sensors", rate=20, partitions=1,
               start_time=1_700_000_000.0).sink("memory", name="lag-test")
    ui = attach(ctx, {"port": None, "metrics_port": 0})
    try:
        metrics = ctx.run(batches=3)
        got = scrape(ui.metrics_url)
    finally:
        ui.stop()
        MemorySink.clear("lag-test")
    assert [b.records_in for b in metrics.batches] == [5, 5, 5]
    assert [b.source_lag for b in metrics.batches] == [{"q": 15}, {"q": 30}, {"q": 45}]
    assert got[("etlcore_source_lag_records", (("job", "lag"), ("source", "q")))] == 45
