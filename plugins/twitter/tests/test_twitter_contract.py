"""The twitter source under etlcore's contract kit, against the stand-in server.

Tweets published on the stand-in are delivered over the stream, logged by the
receiver and read back from the log: replays, shipped readers and restarts
must agree with what the stream delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etlcore_twitter.standin import StandinServer
from etlcore_twitter.tweets import shape
from twitter_testlib import HASHTAG_RULES, fast

from etlcore.contract import REMOVE, SourceContract
from etlcore.contract.outage import wait_for
from etlcore.source import Source


class TestTwitterSource(SourceContract):
    plugin_name = "twitter"
    max_records = 4

    def server(self) -> StandinServer:
        if not hasattr(self, "_server"):
            self._server = self.request.getfixturevalue("standin")()
        return self._server

    def config(self, path: Path) -> dict[str, Any]:
        return fast(self.server(), rules=HASHTAG_RULES)

    def _deliver(self, source: Source, n: int) -> None:
        before = source.available("0")  # type: ignore[attr-defined]
        wait_for(lambda: source.available("0") >= before + n, 20,  # type: ignore[attr-defined]
                 f"{n} records in the receiver log")

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        server = self.server()
        tweets = [{"id": f"{round}{i:04d}", "text": f"round {round} tweet {i} #etl{i % 3}"}
                  for i in range(9)]
        server.publish(tweets)
        self._deliver(source, len(tweets))
        return [{**shape(t, set(), set(), set()), "matching_rules": server.matching_rules(t)}
                for t in tweets]

    def produce_bad(self, source: Source) -> list[Any]:
        """Lines that are not tweet objects are logged as dead letters with the reason."""
        server = self.server()
        server.publish_raw(b"{not json")
        server.publish_raw(b'{"data": {"text": "no id #x"}}')
        server.publish([{"id": "777", "text": "fine #ok"}])
        self._deliver(source, 3)
        return ["{not json", {"data": {"text": "no id #x"}}]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"bearer_token": REMOVE}, "bearer_token"),
                ({"bearer_token": REMOVE, "bearer_token_env": "ETLCORE_TEST_UNSET_TOKEN"},
                 "bearer_token_env"),
                ({"bearer_token_env": "X_TOKEN"}, "bearer_token_env"),  # both given
                ({"base_url": "api.twitter.com"}, "base_url"),
                ({"rules": [{"value": "#a"}, {"value": " "}]}, "rules[1].value"),
                ({"rules": [{"value": "#a", "tags": "x"}]}, "rules[0]"),
                ({"rules": [{"value": "#a"}, {"value": "#a", "tag": "t"}]}, "rules[1].value"),
                ({"tweet_fields": ["created_at", "Bad Field"]}, "tweet_fields[1]"),
                ({"backfill_minutes": 6}, "backfill_minutes"),
                ({"dedup_ids": -1}, "dedup_ids"),
                ({"stall_timeout": 0}, "stall_timeout"),
                ({"http_backoff_cap": -1}, "http_backoff_cap")]
