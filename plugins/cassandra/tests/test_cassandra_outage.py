"""The Cassandra node stops for 10+ seconds mid-job and comes back: the job retries (a
warning per retry on ``etlcore.cassandra`` and the STATS counters show the outage), catches
up, and the tables equal an uninterrupted run's: nothing lost, nothing doubled."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from cassandra_testlib import table_name
from etlcore_cassandra.sink import STATS

from etlcore import StreamingContext
from etlcore.contract.outage import outage_mid_job
from tests.services.fixtures.harness import svcharness

pytestmark = [pytest.mark.services, pytest.mark.slow]

PARTITIONS, LIMIT, BOUND = 2, 1000, 10
OUTAGE = 10.0


def _job(ckpt: Path, base: dict[str, Any], prefix: str) -> StreamingContext:
    common = {**base, "create_table": True, "retry_for": 120.0, "request_timeout": 5.0}
    ctx = StreamingContext(1.0, ckpt, clock="manual", name=f"outage-{prefix}",
                           max_rate_per_partition=BOUND)
    clicks = ctx.source("generator", kind="clicks", seed=3, rate=1000, partitions=PARTITIONS,
                        limit=LIMIT, start_time=1_700_000_000.0)
    clicks.sink("cassandra", table=f"{prefix}_raw", mode="append",
                columns={"user_id": "text", "url": "text", "event": "text", "ts": "double"},
                **common)
    totals = (clicks.map(lambda r: (r["user_id"], 1))
                    .update_state_by_key(lambda new, old: (old or 0) + sum(new)))
    totals.sink("cassandra", table=f"{prefix}_totals",
                columns={"user_id": "text", "clicks": "bigint"}, primary_key=["user_id"],
                **common)
    clicks.foreach_batch(lambda batch_id, records: time.sleep(0.03))
    return ctx


def _stored(session: Any, ks: str, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    def select(table: str, cols: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in session.execute(
            f'SELECT {cols} FROM "{ks}"."{prefix}_{table}"', timeout=60))

    return {"raw": select("raw", "etl_batch, etl_partition, etl_position, user_id, url, event, "
                                 "ts, WRITETIME(url)"),
            "totals": select("totals", "user_id, clicks, WRITETIME(clicks)")}


def test_node_down_for_ten_seconds_mid_job(base_config: dict[str, Any], cassandra_session: Any,
                                           tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    ks = base_config["keyspace"]
    ref, run = table_name("ref"), table_name("out")
    reference = _job(tmp_path / "ref-ckpt", base_config, ref)
    reference.run(until_idle=True)

    caplog.set_level(logging.WARNING, logger="etlcore.cassandra")
    before = dict(STATS)
    ctx = _job(tmp_path / "ckpt", base_config, run)
    ctx.start(until_idle=True)
    down = outage_mid_job(ctx, svcharness.get("cassandra"), lambda: ctx.metrics.total_batches,
                          "the node", seconds=OUTAGE, progress_timeout=60, finish_timeout=180)
    print(f"node down {down.seconds:.1f}s; batches {down.at_stop} at stop, "
          f"{down.before_start} before start, {ctx.metrics.total_batches} at the end; "
          f"stats {STATS}")
    assert down.seconds >= OUTAGE
    retries = STATS["retries"] - before["retries"]
    assert retries >= 3, STATS
    warnings = [r.getMessage() for r in caplog.records if r.name == "etlcore.cassandra"]
    assert any("writes failed" in w and "retry" in w for w in warnings), warnings[:5]
    got, want = _stored(cassandra_session, ks, run), _stored(cassandra_session, ks, ref)
    assert len(want["raw"]) == PARTITIONS * LIMIT and len(want["totals"]) > 50
    assert got == want
