"""Error answers: problem bodies parsed, 401/403 fail clearly, 429/5xx back off and recover."""

from __future__ import annotations

import logging
import re

import pytest
from etlcore_twitter.backoff import Backoff
from etlcore_twitter.problems import TwitterError, parse_problem
from etlcore_twitter.standin import Faults
from twitter_testlib import HASHTAG_RULES, fast

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.contract.outage import wait_for

# bodies as the X API v2 documents them
UNAUTHORIZED = b'{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}'
FORBIDDEN = (b'{"client_id":"1","detail":"When authenticating requests to the Twitter API v2 '
             b'endpoints, you must use keys and tokens from a Twitter developer App that is '
             b'attached to a Project.","registration_url":"https://developer.twitter.com/",'
             b'"title":"Client Forbidden","required_enrollment":"Appropriate Level of API '
             b'Access","reason":"client-not-enrolled","type":'
             b'"https://api.twitter.com/2/problems/client-forbidden"}')
TOO_MANY = (b'{"title":"ConnectionException","detail":"This stream is currently at the maximum '
            b'allowed connection limit.","connection_issue":"TooManyConnections","type":'
            b'"https://api.twitter.com/2/problems/streaming-connection"}')
INVALID = (b'{"errors":[{"parameters":{"tweet.fields":["bogus"]},"message":"The `tweet.fields` '
           b'query parameter value [bogus] is not one of [id,text]"}],"title":"Invalid Request",'
           b'"detail":"One or more parameters to your request was invalid.","type":'
           b'"https://api.twitter.com/2/problems/invalid-request"}')


@pytest.mark.parametrize(("status", "body", "title", "detail_has", "kind"), [
    (401, UNAUTHORIZED, "Unauthorized", "", "about:blank"),
    (403, FORBIDDEN, "Client Forbidden", "attached to a Project", "client-forbidden"),
    (429, TOO_MANY, "ConnectionException", "maximum allowed connection limit",
     "streaming-connection"),
    (400, INVALID, "Invalid Request", "query parameter value [bogus]", "invalid-request"),
    (503, b'{"errors":[{"message":"Service Unavailable"}]}', "Service Unavailable",
     "Service Unavailable", ""),
    (502, b"<html><body>502 Bad Gateway</body></html>", "Bad Gateway", "body: <html>", ""),
    (500, b"", "Internal Server Error", "", ""),
])
def test_problem_bodies_are_parsed(status, body, title, detail_has, kind) -> None:
    reason = {502: "Bad Gateway", 500: "Internal Server Error", 503: "Service Unavailable"}
    problem = parse_problem(status, body, reason.get(status, ""))
    assert problem.status == status
    assert problem.title == title
    assert detail_has in problem.detail
    assert problem.type.endswith(kind)
    assert problem.summary.startswith(f"HTTP {status} {title}")


def test_backoff_defaults_are_the_documented_ones() -> None:
    b = Backoff()
    assert [b.next("network") for _ in range(66)][:3] == [0.25, 0.5, 0.75]
    assert b.next("network") == 16.0  # linear, capped at 16 s
    assert [b.next("http") for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert [b.next("rate_limit") for _ in range(3)] == [60, 120, 240]
    b.reset()
    assert b.next("http") == 5


def run_until_fails(config: dict, caplog: pytest.LogCaptureFixture) -> str:
    ctx = StreamingContext(0.1, name="job")
    ctx.source("twitter", name="tweets", **config).sink("memory", name="out")
    with caplog.at_level(logging.DEBUG), pytest.raises(TwitterError) as raised:
        ctx.run(duration=30)
    return str(raised.value)


@pytest.mark.parametrize("status", [401, 403])
def test_bad_token_or_access_fails_naming_the_source_never_the_token(standin, caplog, status):
    if status == 401:
        server = standin()
        config = fast(server, bearer_token="AAAA-wrong-token-0123456789")
    else:
        server = standin(status=403)
        config = fast(server)
    message = run_until_fails(config, caplog)
    token = config["bearer_token"]
    assert "twitter source 'tweets'" in message, message
    expected = "Unauthorized" if status == 401 else "Client Forbidden: When authenticating"
    assert f"HTTP {status} {expected}" in message, message
    assert "token" in message  # the hint: wrong token, or the app's access level
    assert token not in message and token not in caplog.text
    listing = [r for r in server.requests if r["path"].endswith("/rules")]
    assert len(listing) == 1, "a 401/403 must not be retried"


def test_token_from_env_is_used_and_never_shown(standin, caplog, monkeypatch) -> None:
    server = standin(token="env-token-9f8e7d6c5b4a")
    monkeypatch.setenv("X_BEARER", "env-token-9f8e7d6c5b4a")
    config = fast(server, bearer_token=None, bearer_token_env="X_BEARER",
                  tweet_fields=["bogus_field"])  # the stream refuses: a 400 after the rules
    message = run_until_fails(config, caplog)
    assert "HTTP 400 Invalid Request" in message and "[bogus_field]" in message, message
    assert server.rules, "the env token was not accepted for the rules"
    assert "env-token-9f8e7d6c5b4a" not in message + caplog.text


def test_429_and_5xx_back_off_and_recover(standin, caplog) -> None:
    server = standin(faults=Faults(error=1.0, error_statuses=(429,)))
    server.generate(40)
    ctx = StreamingContext(0.1, name="job")
    ctx.source("twitter", name="tweets", **fast(server, rules=HASHTAG_RULES)).sink(
        "memory", name="out")
    ctx.open()
    try:
        with caplog.at_level(logging.WARNING, logger="etlcore_twitter"):
            ctx.run(duration=1.2)
            waits = [float(w) for w in re.findall(r"reconnecting in ([\d.]+) s \(rate_limit",
                                                  caplog.text)]
            assert waits[:4] == [0.1, 0.2, 0.4, 0.8], waits  # 429: exponential, capped
            assert "HTTP 429" in caplog.text and "maximum allowed connection limit" in \
                caplog.text
            server.faults = Faults(error=1.0, error_statuses=(500, 503))
            caplog.clear()
            ctx.run(duration=0.6)
            waits = [float(w) for w in re.findall(r"reconnecting in ([\d.]+) s \(http",
                                                  caplog.text)]
            assert waits[:3] == [0.05, 0.1, 0.2], waits  # 5xx: exponential from its own base
            server.faults = Faults()
            wanted = sum(1 for _, t in server.items if "#" in t["text"])
            ctx.run(duration=3)
        wait_for(lambda: len(MemorySink.results("out")) >= wanted, 1, "the tweets")
    finally:
        ctx.stop()
    assert len(MemorySink.results("out")) == wanted
