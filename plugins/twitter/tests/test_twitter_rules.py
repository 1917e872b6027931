"""Rule sync: the stream's rules become exactly the configured ones, by the smallest change."""

from __future__ import annotations

from typing import Any

import pytest
from etlcore_twitter.problems import TwitterError
from twitter_testlib import fast

from etlcore.clock import ManualClock
from etlcore.contract.outage import wait_for
from etlcore.plugin.registry import get_registry
from etlcore.source import SourceContext


def open_source(config: dict[str, Any]) -> Any:
    source = get_registry().get("source", "twitter").build(config, where="tweets")
    source.open(SourceContext("tweets", ManualClock(0.0)))
    return source


def seed_rules(server: Any, rules: list[dict[str, str]]) -> dict[str, str]:
    """Rules already on the stream (as left by an earlier job); value -> id."""
    status, doc = server.change_rules({"add": rules}, dry_run=False)
    assert status == 201, doc
    server.requests.clear()
    return {r["value"]: r["id"] for r in doc["data"]}


def posts(server: Any) -> list[tuple[bool, dict[str, Any]]]:
    return [(r["query"].get("dry_run") == ["true"], r["body"]) for r in server.requests
            if r["method"] == "POST"]


def test_sync_adds_and_deletes_exactly_the_difference(standin) -> None:
    server = standin()
    ids = seed_rules(server, [{"value": "#python", "tag": "py"}, {"value": "#rust", "tag": "rs"},
                              {"value": "#go", "tag": "old"}])
    wanted = [{"value": "#python", "tag": "py"}, {"value": "#go", "tag": "new"},
              {"value": "#ai lang:en", "tag": "ai"}, {"value": "has:hashtags"}]
    source = open_source(fast(server, rules=wanted))
    try:
        assert source.rules_synced.wait(10), "rules never synced"
    finally:
        source.close()
    added = [{"value": "#go", "tag": "new"}, {"value": "#ai lang:en", "tag": "ai"},
             {"value": "has:hashtags"}]
    assert posts(server) == [(True, {"add": added[1:]}),  # new values checked before changes
                             (False, {"delete": {"ids": [ids["#rust"], ids["#go"]]}}),
                             (False, {"add": added})]
    have = sorted((r["value"], r.get("tag", "")) for r in server.rules.values())
    assert have == sorted((r["value"], r.get("tag", "")) for r in wanted)
    assert server.rules[ids["#python"]]["value"] == "#python"  # the kept rule kept its id

    server.requests.clear()  # a restart with the same rules changes nothing
    source = open_source(fast(server, rules=wanted))
    try:
        assert source.rules_synced.wait(10)
    finally:
        source.close()
    assert posts(server) == []
    assert [r["path"] for r in server.requests if r["method"] == "GET"][0].endswith("/rules")


def test_no_rules_configured_deletes_every_rule(standin) -> None:
    server = standin()
    ids = seed_rules(server, [{"value": "#a"}, {"value": "#b"}])
    source = open_source(fast(server, rules=[]))
    try:
        assert source.rules_synced.wait(10)
    finally:
        source.close()
    assert posts(server) == [(False, {"delete": {"ids": sorted(ids.values())}})]
    assert server.rules == {}


def test_sync_rules_false_leaves_the_rules_alone(standin) -> None:
    server = standin()
    seed_rules(server, [{"value": "#a"}])
    server.generate(30)
    source = open_source(fast(server, rules=[{"value": "#b"}], sync_rules=False))
    try:
        wait_for(lambda: server.connections, 10, "a stream connection")
    finally:
        source.close()
    assert posts(server) == []
    assert [r["value"] for r in server.rules.values()] == ["#a"]


def test_a_rule_the_api_refuses_fails_the_job_and_changes_nothing(standin) -> None:
    server = standin()
    seed_rules(server, [{"value": "#old"}])
    source = open_source(fast(server, rules=[{"value": "(#a OR #b", "tag": "broken"}]))
    try:
        err = wait_for(lambda: source._fatal, 10, "the refusal")
        with pytest.raises(TwitterError) as raised:
            source.plan("0", 0, None)  # the driver's next batch fails
    finally:
        source.close()
    assert raised.value is err
    text = str(err)
    assert "twitter source 'tweets'" in text and "Invalid Rule" in text, text
    assert "(#a OR #b" in text and "unbalanced parentheses" in text, text
    assert posts(server) == [(True, {"add": [{"value": "(#a OR #b", "tag": "broken"}]})]
    assert [r["value"] for r in server.rules.values()] == ["#old"]
    assert server.connections == 0


def test_a_listing_that_is_not_a_json_object_is_retried(standin, caplog) -> None:
    server = standin()
    real, calls = server.rulebook.listing, []

    def flaky() -> Any:
        calls.append(1)
        return ["not", "an object"] if len(calls) <= 2 else real()

    server.rulebook.listing = flaky
    with caplog.at_level("WARNING", logger="etlcore_twitter"):
        source = open_source(fast(server, rules=[{"value": "#a"}]))
        try:
            assert source.rules_synced.wait(10), "rules never synced"
        finally:
            source.close()
    assert len(calls) == 3
    assert caplog.text.count("HTTP 200 answer is not a JSON object") == 2, caplog.text
    assert [r["value"] for r in server.rules.values()] == ["#a"]
