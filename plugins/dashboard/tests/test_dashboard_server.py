"""The page's server over real HTTP: tokens, events, sharing, runners, a stalled browser."""

from __future__ import annotations

import http.client
import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_testlib import fetch, page_state, panel
from etlcore_dashboard import server as dashboard_server
from etlcore_dashboard.server import COOKIE, acquire, plotly_js, release

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError

TAGS = [[{"tag": f"#t{(i * 7 + b) % 11}", "count": (i * 13 + b) % 17 + 1} for i in range(40)]
        for b in range(4)]


@pytest.fixture
def page() -> Iterator[str]:
    """A page on a free port kept up between jobs (sinks with ``port=0`` join it)."""
    server = acquire("127.0.0.1", 0, None)
    yield server.url
    release(server)


def test_the_token_guards_the_page_its_events_and_files():
    server = acquire("127.0.0.1", 0, "let-me-in")
    try:
        url = server.url
        for path in ("", "events", "api/state", "static/plotly.min.js", "static/dashboard.js"):
            status, body, _ = fetch(url + path)
            assert status == 401, path
            assert b"token" in body
            assert fetch(f"{url}{path}?token=wrong")[0] == 401
            assert fetch(url + path, {"Authorization": "Bearer wrong"})[0] == 401
        assert fetch(url + "api/state", {"Authorization": "Bearer let-me-in"})[0] == 200
        status, body, headers = fetch(url + "?token=let-me-in")
        assert status == 200 and b"<main id=\"panels\">" in body
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}_{server.port}=let-me-in") and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        status, body, _ = fetch(url + "static/plotly.min.js", {"Cookie": f"{server.cookie}=let-me-in"})
        assert status == 200 and body == plotly_js().read_bytes()  # the installed package's file
    finally:
        release(server)


def test_on_loopback_only_loopback_host_names_are_answered(page):
    assert fetch(page + "api/state", {"Host": "evil.example:80"})[0] == 421
    port = page.rstrip("/").rsplit(":", 1)[1]
    assert fetch(page + "api/state", {"Host": f"localhost:{port}"})[0] == 200


def test_a_busy_port_is_a_config_error_naming_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ctx = StreamingContext(1.0, clock="manual")
        ctx.queue_stream([[1]]).sink("dashboard", panel="number", port=port)
        with pytest.raises(ConfigError) as err:
            ctx.run(until_idle=True)
    assert err.value.key == "sink 'dashboard'.port"
    assert "a free port on 127.0.0.1" in str(err.value)


def test_sinks_share_one_page_and_must_agree_on_the_token(page):
    ctx = StreamingContext(1.0, clock="manual", name="shared")
    stream = ctx.queue_stream(TAGS[:1])
    stream.sink("dashboard", panel="table", title="first", port=0)
    stream.sink("dashboard", panel="bar", key="tag", value="count", title="second", port=0)
    ctx.run(until_idle=True)
    state = page_state(page)
    assert [(p["id"], p["panel"]["title"]) for p in state["panels"]] == [
        ("shared/dashboard", "first"), ("shared/dashboard-2", "second")]
    assert state["title"] == "shared"
    ctx = StreamingContext(1.0, clock="manual", name="other")
    ctx.queue_stream([[1]]).sink("dashboard", panel="number", port=0, token="t")
    with pytest.raises(ConfigError) as err:
        ctx.run(until_idle=True)
    assert err.value.key == "sink 'dashboard'.token"


@pytest.mark.parametrize("runner", ["local", "processes", "spark"])
def test_the_page_shows_what_the_job_produced(page, runner, request):
    """Writers run on workers (processes, Spark executors); the page lives in the driver,
    where commits run."""
    options: dict = {"runner": runner}
    if runner == "processes":
        options["workers"] = 2
    elif runner == "spark":
        options["master"] = request.getfixturevalue("spark_master").url
    batches = TAGS[:2] if runner == "spark" else TAGS  # a Spark job per stage and batch: slow
    # one queued batch a batch on every runner (the line panel has a point per batch)
    ctx = StreamingContext(1.0, clock="manual", name=f"shows-{runner}", parallelism=2,
                           catch_up=False, **options)
    counts = ctx.queue_stream(batches).map(lambda r: (r["tag"], r["count"])).reduce_by_key("sum")
    counts.sink("memory", name="counts")
    rows = counts.map(lambda kv: {"tag": kv[0], "count": kv[1]})
    rows.sink("dashboard", panel="bar", key="tag", value="count", top=5, port=0)
    rows.sink("dashboard", panel="line", value="count", port=0)
    ctx.run(until_idle=True)
    job = ctx.name
    stored = [records for _, records in sorted(MemorySink.batches("counts").items()) if records]
    assert len(stored) == len(batches)
    last = Counter(dict(stored[-1]))  # the last batch's counts, read back from the job's output
    state = page_state(page)
    bar = panel(state, f"{job}/dashboard")
    top = sorted(last.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert list(zip(bar["keys"], bar["values"], strict=True)) == [(k, float(v)) for k, v in top]
    line = panel(state, f"{job}/dashboard-2")
    assert line["y"] == [float(sum(dict(batch).values())) for batch in stored]


def test_a_restarted_job_shows_its_history_from_the_checkpoint(page, tmp_path: Path):
    def run(batches: list[list[int]]) -> None:
        ctx = StreamingContext(1.0, tmp_path / "ckpt", clock="manual", name="restart")
        ctx.queue_stream(batches).sink("dashboard", panel="line", port=0)
        ctx.run(batches=len(batches))

    run([[1, 2], [3]])
    assert panel(page_state(page), "restart/dashboard")["y"] == [3.0, 3.0]
    run([[1, 2], [3], [10]])  # the queue starts over; the checkpoint skips the first two
    line = panel(page_state(page), "restart/dashboard")
    assert line["y"] == [3.0, 3.0, 10.0]
    assert (tmp_path / "ckpt" / "sinks" / "dashboard" / "panel.json").is_file()


def read_event(stream: http.client.HTTPResponse) -> tuple[str, dict]:
    """The next event of a server-sent-events stream (comments and retry lines skipped)."""
    name, data = "message", ""
    while True:
        line = stream.readline().decode()
        assert line, "the event stream ended"
        line = line.rstrip("\n")
        if not line:
            if data:
                return name, json.loads(data)
            continue
        field, _, value = line.partition(": ")
        if field == "event":
            name = value
        elif field == "data":
            data += value


def test_events_carry_a_snapshot_then_every_commit(page):
    host, port = page.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", "/events")
    stream = conn.getresponse()
    assert stream.headers["Content-Type"] == "text/event-stream"
    name, snapshot = read_event(stream)
    assert name == "snapshot" and "panels" in snapshot
    ctx = StreamingContext(1.0, clock="manual", name="events")
    ctx.queue_stream([[5], [7]]).sink("dashboard", panel="number", port=0)
    ctx.run(until_idle=True)
    seen = []  # a slow reader may get only the latest state of a panel: that is the design
    while not seen or seen[-1] != "7":
        name, event = read_event(stream)
        if name == "panel" and event["id"] == "events/dashboard" and event["panel"]["time"]:
            seen.append(event["panel"]["text"])
    assert set(seen) <= {"5", "7"}
    conn.close()


def test_a_stalled_browser_neither_stops_batches_nor_piles_up_messages(page):
    """A client that never reads: each batch still commits; it has one pending message per panel."""
    host, port = page.removeprefix("http://").rstrip("/").split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    try:
        big = [[{"i": i, "text": f"{b}:" + "x" * 450} for i in range(200)] for b in range(40)]
        ctx = StreamingContext(1.0, clock="manual", name="stalled")
        stream = ctx.queue_stream(big)
        stream.sink("dashboard", panel="table", rows=200, port=0)
        stream.sink("dashboard", panel="line", agg="count", port=0)
        ctx.run(until_idle=True)
        assert ctx.metrics.summary()["batches"] == 41
        line = panel(page_state(page), "stalled/dashboard-2")
        assert len(line["y"]) == 40  # every batch reached the page
        server = dashboard_server._servers[("127.0.0.1", 0)][0]
        pending = [len(c.pending) for c in list(server._clients)]
        assert pending and max(pending) <= len(page_state(page)["panels"])
    finally:
        stalled.close()
