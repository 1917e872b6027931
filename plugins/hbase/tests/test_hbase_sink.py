"""The hbase sink in real jobs against the real server: runners, dead letters, an outage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hbase_testlib import scan

from etlcore import StreamingContext
from etlcore.contract.outage import wait_for
from etlcore.plugin.registry import get_registry

pytestmark = pytest.mark.services


def build_sink(**config: Any) -> Any:
    return get_registry().get("sink", "hbase").build(config, where="sink 'hbase'")


def expected_rows(batches: list[list[dict[str, Any]]]) -> list[tuple[bytes, dict]]:
    """What the test job stores, worked out independently of the sink's encoder: key
    ``{user}#{seq:06d}``, text values, the batch time (manual clock: batch i at i+1 s)
    in ms as every cell's timestamp; the last record per key wins."""
    rows: dict[bytes, dict] = {}
    for i, batch in enumerate(batches):
        ts = (i + 1) * 1000
        for r in batch:
            rows[f"{r['user']}#{r['seq']:06d}".encode()] = {
                b"cf:user": (r["user"].encode(), ts), b"cf:seq": (str(r["seq"]).encode(), ts),
                b"cf:amount": (repr(r["amount"]).encode(), ts)}
    return sorted(rows.items())


def make_batches(n_batches: int, per_batch: int) -> list[list[dict[str, Any]]]:
    return [[{"user": f"u{j % 7}", "seq": i * per_batch + j, "amount": j / 4}
             for j in range(per_batch)] for i in range(n_batches)]


@pytest.mark.parametrize("runner", ["local", "processes", "spark"])
def test_round_trip_on_runners(runner: str, hbase_thrift: tuple[str, int],
                               hbase_table_factory: Callable[..., str], tmp_path: Any,
                               request: pytest.FixtureRequest) -> None:
    host, port = hbase_thrift
    table = hbase_table_factory(create=False)
    batches = make_batches(4, 250)
    batches[3][:10] = [dict(r, amount=-1.0) for r in batches[0][:10]]  # upserts of old keys
    if runner == "spark":
        from etlcore.runners.spark import SparkRunner

        options: dict[str, Any] = {"runner": SparkRunner(
            context=request.getfixturevalue("spark_context"))}
    elif runner == "processes":
        options = {"runner": "processes", "workers": 2}
    else:
        options = {}
    # one queued batch a batch on every runner: batch 3's upserts land after batch 0's rows
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name=f"rt-{runner}",
                           parallelism=2, catch_up=False, **options)
    (ctx.queue_stream(batches)
        .key_by(lambda r: r["user"]).map(lambda kv: kv[1])  # spread over partitions
        .sink("hbase", host=host, port=port, table=table, row_key="{user}#{seq:06d}",
              create_table=True, batch_size=100))
    ctx.run(until_idle=True)
    assert scan(host, port, table) == expected_rows(batches)


def test_bad_records_go_to_dead_letters_with_the_stores_reason(
        hbase_thrift: tuple[str, int], hbase_table_factory: Callable[..., str],
        tmp_path: Any) -> None:
    """Records the sink cannot encode, and one the *server* refuses (a cell over its
    hbase.client.keyvalue.maxsize, with the sink's own check raised above it), are
    dead-lettered with the reason; the good records of the batch and the next batch are
    stored."""
    host, port = hbase_thrift
    table = hbase_table_factory(create=False)
    big = "x" * (10 * 1024 * 1024 + 10)
    first = [{"user": "a", "seq": 1, "amount": 1.0},
             {"seq": 2, "amount": 2.0},                                # no user: no row key
             {"user": "b", "seq": 3, "amount": "three"},               # declared float
             {"user": "c", "seq": 4, "amount": 4.0, "blob": big},      # the server refuses
             {"user": "d", "seq": 5, "amount": 5.0}]
    second = [{"user": "e", "seq": 6, "amount": 6.0}]
    sink = build_sink(host=host, port=port, table=table, row_key="{user}#{seq:06d}",
                      create_table=True, types={"amount": "float"},
                      max_cell_bytes=64 * 1024 * 1024)
    ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="bad")
    ctx.queue_stream([first, second]).to(sink, name="hbase")
    ctx.run(until_idle=True)
    reasons = {d["record"].get("seq"): d["reason"] for d in ctx.dead_letters}
    assert set(reasons) == {2, 3, 4}, ctx.dead_letters
    assert reasons[2] == "row key field 'user' is missing"
    assert reasons[3].startswith("field 'amount': declared float, got str")
    assert "KeyValue size too large" in reasons[4] and "HBase refused" in reasons[4]
    keys = [key for key, _ in scan(host, port, table)]
    assert keys == [b"a#000001", b"d#000005", b"e#000006"]
    assert sink.stats["rows"] == 3


@pytest.mark.parametrize("outage_of", ["thrift", "server"])
def test_server_outage_mid_job_is_retried_and_nothing_lost_or_doubled(
        outage_of: str, hbase_thrift: tuple[str, int], hbase_service: Any,
        hbase_table_factory: Callable[..., str], tmp_path: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    """The Thrift server alone (``thrift``), or the whole server, Thrift and master with
    its region server and ZooKeeper (``server``, SIGTERM, same data), is down for 12 s while
    batches keep coming; writers retry with backoff (warnings logged, retries counted), the
    job catches up once it is back, and every record is stored once, with its batch's time
    as the cell timestamp."""
    caplog.set_level(logging.WARNING, logger="etlcore.hbase")
    host, port = hbase_thrift
    table = hbase_table_factory(create=False)
    sink = build_sink(host=host, port=port, table=table, row_key="{seq:06d}",
                      create_table=True, retries=60, retry_cap=2.0, timeout=5.0)
    ctx = StreamingContext(0.2, tmp_path / "ckpt", name="outage")
    queue = get_registry().get("source", "queue").build({"batches": []})
    source = ctx.stream(queue, name="queue")
    times: dict[int, float] = {}
    ctx.add_listener(lambda m: times.__setitem__(m.batch_id, m.batch_time))
    (source.transform(lambda recs, info: [dict(r, batch=info.batch_id) for r in recs])
           .to(sink, name="hbase"))
    ctx.start()
    pushed = 0

    def push(n: int) -> None:
        nonlocal pushed
        queue.push([{"seq": pushed + j} for j in range(n)])
        pushed += n

    try:
        for _ in range(5):
            push(50)
            time.sleep(0.1)
        wait_for(lambda: sink.stats["rows"] >= 250, 30, "the rows before the outage")
        if outage_of == "thrift":
            hbase_service.stop_thrift()
        else:
            hbase_service.stop()
        down = time.monotonic()
        stopper = threading.Event()
        while time.monotonic() - down < 12:
            push(50)
            stopper.wait(0.5)
        took = hbase_service.start_thrift() if outage_of == "thrift" else hbase_service.start()
        outage = time.monotonic() - down
        for _ in range(3):
            push(50)
        wait_for(lambda: sink.stats["rows"] >= pushed, 90, "catching up after the outage")
    finally:
        ctx.stop()
        ctx.await_termination(60)
    print(f"{outage_of} outage {outage:.1f}s (back in {took:.1f}s), {pushed} records, "
          f"{sink.stats['retries']} failed attempts retried")
    assert outage >= 10
    assert sink.stats["retries"] > 0
    assert "unreachable" in caplog.text
    rows = scan(host, port, table)
    assert [key for key, _ in rows] == [f"{i:06d}".encode() for i in range(pushed)]
    for key, cells in rows:
        batch = int(cells[b"cf:batch"][0])
        stamps = {ts for _, ts in cells.values()}
        assert stamps == {int(round(times[batch] * 1000))}, (key, cells)


def test_open_checks_the_table_and_its_families(hbase_thrift: tuple[str, int],
                                                hbase_table_factory: Callable[..., str]) -> None:
    """Before any batch: a missing table is an error naming create_table, a family the
    table lacks is a ConfigError naming the key, and create_table creates every family."""
    from etlcore.errors import ConfigError, EtlcoreError
    from etlcore.sink import SinkContext

    host, port = hbase_thrift
    missing = hbase_table_factory(create=False)
    with pytest.raises(EtlcoreError, match="create_table: true"):
        build_sink(host=host, port=port, table=missing, row_key="{a}").open(
            SinkContext("hbase", "job"))
    existing = hbase_table_factory(families=("cf",))
    with pytest.raises(ConfigError) as err:
        build_sink(host=host, port=port, table=existing, row_key="{a}",
                   columns={"a": "cf:a", "b": "other:b"}).open(SinkContext("hbase", "job"))
    assert err.value.key == "hbase.columns" and err.value.got == "other"
    created = hbase_table_factory(create=False)
    build_sink(host=host, port=port, table=created, row_key="{a}", create_table=True,
               max_versions=3, columns={"a": "x:a", "b": "y:b"}).open(SinkContext("hbase", "j"))
    import happybase

    conn = happybase.Connection(host, port)
    try:
        families = conn.table(created).families()
    finally:
        conn.close()
    assert sorted(families) == [b"x", b"y"]
    assert families[b"x"]["max_versions"] == 3
