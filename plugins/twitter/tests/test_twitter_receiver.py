"""The receiver: redeliveries dropped by id across restarts, notices, prompt close."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from etlcore_twitter.lines import RecentIds
from twitter_testlib import fast

from etlcore.clock import ManualClock
from etlcore.contract.outage import wait_for
from etlcore.plugin.registry import get_registry
from etlcore.source import SourceContext


def open_source(config: dict[str, Any], checkpoint: Path | None) -> Any:
    source = get_registry().get("source", "twitter").build(config, where="tweets")
    source.open(SourceContext("tweets", ManualClock(0.0), checkpoint))
    return source


def tagged(n: int, first: int = 0) -> list[dict[str, str]]:
    return [{"id": str(9000 + i), "text": f"tweet {i} #t{i % 4}"} for i in range(first, first + n)]


def test_backfill_after_restart_is_dropped_by_the_ids_in_the_log(standin, tmp_path) -> None:
    server = standin(backfill_minute=30.0)
    config = fast(server, backfill_minutes=1)
    source = open_source(config, tmp_path)
    server.publish(tagged(20))
    wait_for(lambda: source.available("0") == 20, 20, "20 tweets logged")
    source.close()

    source = open_source(config, tmp_path)  # reconnects asking for the last minute again
    try:
        wait_for(lambda: source.duplicates == 20, 20, "the backfill to be dropped")
        server.publish(tagged(5, first=20))
        wait_for(lambda: source.available("0") == 25, 20, "the new tweets logged")
        time.sleep(0.3)
        assert source.available("0") == 25
        ids = [r["data"]["id"] for r in source.reader().read("0", 0, 25)]
        assert sorted(ids) == sorted(t["id"] for t in tagged(25))
    finally:
        source.close()
    assert sum(1 for tid, _ in server.sent if tid == "9000") == 2  # really sent twice


def test_without_the_id_set_a_backfill_is_stored_again(standin, tmp_path) -> None:
    server = standin(backfill_minute=30.0)
    config = fast(server, backfill_minutes=1, dedup_ids=0)
    source = open_source(config, tmp_path)
    server.publish(tagged(10))
    wait_for(lambda: source.available("0") == 10, 20, "10 tweets logged")
    source.close()
    source = open_source(config, tmp_path)
    try:
        wait_for(lambda: source.available("0") == 20, 20, "the backfill logged again")
    finally:
        source.close()


def test_recent_ids_are_bounded() -> None:
    recent = RecentIds(3)
    recent.add(["a", "b", "c", "a", "d"])
    assert "a" not in recent and all(i in recent for i in "bcd") and len(recent) == 3


def test_in_band_notice_is_logged_not_stored(standin, caplog) -> None:
    server = standin()
    source = open_source(fast(server), None)
    try:
        with caplog.at_level(logging.WARNING, logger="etlcore_twitter"):
            server.publish_raw(b'{"errors": [{"title": "operational-disconnect", "detail": '
                               b'"This stream has been disconnected upstream for operational '
                               b'reasons.", "disconnect_type": "UpstreamOperationalDisconnect"}]}')
            server.publish(tagged(1))
            wait_for(lambda: source.available("0") == 1, 20, "the tweet")
        assert "stream notice: operational-disconnect: This stream has been disconnected" in \
            caplog.text
        assert source.reader().read("0", 0, 1)[0]["data"]["id"] == "9000"
    finally:
        source.close()


def test_close_interrupts_a_silent_stream(standin) -> None:
    server = standin(keepalive=60.0)  # no keep-alive: the read blocks up to stall_timeout
    source = open_source(fast(server, stall_timeout=30.0), None)
    wait_for(lambda: source.connections, 20, "a connection")
    time.sleep(0.2)
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 3.0


def test_a_failing_log_write_fails_the_job(standin, tmp_path) -> None:
    server = standin()
    source = open_source(fast(server), tmp_path)
    try:
        def full(records: list[Any]) -> int:
            raise OSError(28, "No space left on device")

        source.logs["0"].append = full
        server.publish(tagged(3))
        wait_for(lambda: source._fatal, 20, "the store failure")
        try:
            source.plan("0", 0, None)
        except Exception as err:  # noqa: BLE001 - checked below
            message = str(err)
        else:
            raise AssertionError("plan went on after the log failed")
    finally:
        source.close()
    assert "twitter source 'tweets': storing received tweets failed" in message, message
    assert "No space left on device" in message


def test_fields_and_expansions_from_the_config_shape_the_records(standin) -> None:
    server = standin()
    source = open_source(fast(server, tweet_fields=["created_at", "lang"],
                              expansions=["author_id"], user_fields=["username"]), None)
    try:
        server.generate(40)
        wait_for(lambda: source.available("0") >= 5, 20, "tweets")
        record = source.reader().read("0", 0, 1)[0]
    finally:
        source.close()
    stream = [r for r in server.requests if r["path"] == "/2/tweets/search/stream"]
    assert stream[0]["query"] == {"tweet.fields": ["created_at,lang"],
                                  "expansions": ["author_id"], "user.fields": ["username"]}
    assert set(record["data"]) == {"id", "text", "edit_history_tweet_ids", "created_at", "lang",
                                   "author_id"}
    assert record["includes"]["users"][0]["id"] == record["data"]["author_id"]
    assert set(record["includes"]["users"][0]) == {"id", "name", "username"}
    assert record["matching_rules"][0]["tag"] == "tagged"
